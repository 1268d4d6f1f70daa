"""Dutch by default, English on request; Dutch dates and money."""

from datetime import date

from tests.conftest import csrf_token


def test_dutch_by_default_and_english_after_switch(client, make):
    gemeente = make.tenant()
    login_url = f"/{gemeente.slug}/login"
    dutch = client.get(login_url).get_data(as_text=True)
    assert '<html lang="nl"' in dutch
    assert f"Inloggen voor medewerkers van {gemeente.name}" in dutch

    response = client.post("/taal/en", data={"csrf_token": csrf_token(client, login_url), "next": login_url})
    assert response.status_code == 302 and response.headers["Location"].endswith(login_url)
    english = client.get(login_url).get_data(as_text=True)
    assert '<html lang="en"' in english
    assert f"Staff login for {gemeente.name}" in english
    assert "E-mail address" in english


def test_wrong_password_message_follows_the_language(client, make):
    gemeente = make.tenant()
    person = make.user(gemeente)
    login_url = f"/{gemeente.slug}/login"
    client.post("/taal/en", data={"csrf_token": csrf_token(client, login_url), "next": login_url})
    page = client.post(login_url, data={"email": person.email, "password": "helemaal-fout-wachtwoord",
                                        "csrf_token": csrf_token(client, login_url)})
    assert page.status_code == 401
    assert "The e-mail address or the password is not correct." in page.get_data(as_text=True)


def test_dates_and_money_are_written_the_dutch_way(app):
    with app.test_request_context("/"):
        render = app.jinja_env.from_string("{{ d|datum }} · {{ amount|euro }}").render
        assert render(d=date(2026, 11, 23), amount=5500) == "23 november 2026 · € 5.500"
