def test_harness_serves_the_console_to_chromium(e2e_stack, new_page):
    page, watch = new_page("smoke")
    page.goto(f"{e2e_stack.base_url}/accounts/signup/")
    assert page.get_by_role("heading", name="Create your organization").is_visible()
    watch.check("signup")
