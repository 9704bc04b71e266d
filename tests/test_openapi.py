"""The API describes itself at /api/openapi.json."""

from flask.testing import FlaskClient


def test_openapi_document_lists_the_api(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path, method in [
        ("/api/auth/register", "post"),
        ("/api/auth/login", "post"),
        ("/api/auth/logout", "post"),
        ("/api/me", "get"),
        ("/api/csrf", "get"),
        ("/api/rooms", "get"),
        ("/api/rooms", "post"),
        ("/api/rooms/{room_id}", "get"),
        ("/api/rooms/{room_id}/join", "post"),
        ("/api/rooms/{room_id}/leave", "post"),
        ("/api/rooms/{room_id}/messages", "get"),
        ("/api/rooms/{room_id}/messages", "post"),
    ]:
        assert method in paths.get(path, {}), (method, path)
    register_body = paths["/api/auth/register"]["post"]["requestBody"]
    assert register_body["content"]["application/json"]["schema"]
