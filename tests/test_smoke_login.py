from tests.conftest import login


def test_coordinator_logs_in_and_sees_start_page(client, make):
    gemeente = make.tenant()
    person = make.user(gemeente)
    login(client, person, f"/{gemeente.slug}")
    page = client.get(f"/{gemeente.slug}/app/")
    assert page.status_code == 200
    assert "Test coordinator" in page.get_data(as_text=True)
