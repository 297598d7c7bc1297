"""The harness itself: a page renders cleanly, and forms posted by a real
browser pass CSRF (the Django test client sends no Origin header, so only a
browser catches a policy that breaks it)."""


def test_harness_serves_the_console_to_chromium(e2e_stack, new_page):
    page, watch = new_page("smoke")
    page.goto(f"{e2e_stack.base_url}/accounts/signup/")
    assert page.get_by_role("heading", name="Create your organization").is_visible()
    watch.check("signup")


def test_forms_posted_by_a_real_browser_pass_csrf(e2e_stack, new_page):
    # Regression: with Referrer-Policy no-referrer, Chromium posted Origin: null
    # and Django refused every form ("This form has expired").
    base = e2e_stack.base_url
    page, watch = new_page("csrf")
    page.goto(f"{base}/accounts/signup/")
    page.get_by_label("Work email").fill("founder@csrf-e2e.test")
    page.get_by_label("Password", exact=True).fill("a-long-unusual-passphrase")
    page.get_by_label("Password again").fill("a-long-unusual-passphrase")
    page.get_by_label("Organization name").fill("CSRF Check")
    page.get_by_label("Login path").fill("csrf-e2e")
    page.get_by_role("button", name="Create organization").click()
    page.wait_for_url(f"{base}/orgs/csrf-e2e/")
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill("founder@csrf-e2e.test")
    page.get_by_label("Password").fill("a-long-unusual-passphrase")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/orgs/csrf-e2e/")
    watch.check("overview")
