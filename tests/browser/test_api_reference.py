"""The API reference page (``/docs`` on the dashboard's server): Swagger UI over the API's
own OpenAPI document, with its files served locally (never from a CDN)."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import WAIT_SECONDS, Page, Stack

pytestmark = pytest.mark.browser


def test_the_reference_page_renders_every_tag_of_the_openapi_document(
        page: Page, stack: Stack) -> None:
    document = requests.get(f"{stack.api_url}/v1/openapi.json", timeout=10).json()
    tags = {tag for operation in (op for item in document["paths"].values()
                                  for op in item.values() if isinstance(op, dict))
            for tag in operation.get("tags", [])}
    assert len(tags) >= 10  # every area of the API has its tag

    page.open("/docs")
    WebDriverWait(page.driver, WAIT_SECONDS).until(
        lambda driver: len(driver.find_elements(By.CSS_SELECTOR, ".opblock-tag")) >= len(tags))
    shown = {element.get_attribute("data-tag")
             for element in page.driver.find_elements(By.CSS_SELECTOR, ".opblock-tag")}
    assert shown == tags
    page.snap("api-reference")

    # Nothing was fetched from outside the local stack (no CDN).
    resources = page.driver.execute_script(
        "return performance.getEntriesByType('resource').map(r => r.name)")
    local = (stack.web_url, stack.api_url)
    assert resources and all(name.startswith(local) for name in resources), resources


def test_the_dashboard_links_to_the_reference(page: Page, stack: Stack) -> None:
    agency = stack.new_agency()
    page.sign_in(agency.owner_email, agency.owner_password)
    assert page.find("nav-api-reference").get_attribute("href") == f"{stack.web_url}/docs"
