from tests.authz.support import World, call_data, data_token, register_client


def test_smoke(world: World) -> None:
    bank = register_client(world)
    consent_id, token = data_token(world, bank)
    response = call_data(world, bank, token["access_token"], f"/api/v1/data/enterprises/{world.uscc}/tax")
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 12
