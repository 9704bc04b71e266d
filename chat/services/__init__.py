"""The rules of the service, as plain functions that HTTP routes and socket handlers share."""
