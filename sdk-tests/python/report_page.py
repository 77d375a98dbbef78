"""The drill's report.html in headless Chromium: every chart is an SVG with a line of data points
for each policy, the figures table is there, and the browser logs no error.

usage: report_page.py REPORT_HTML [SCREENSHOT_PNG]
"""

import sys

from selenium.webdriver.common.by import By

from browser import chromium, console_errors

page = sys.argv[1]
shot = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
driver = chromium(1280, 2300)
try:
    driver.get("file://" + page)
    charts = driver.find_elements(By.CSS_SELECTOR, "figure.chart")
    assert len(charts) >= 6, len(charts)
    for chart in charts:
        lines = chart.find_elements(By.CSS_SELECTOR, "polyline.series")
        policies = sorted(line.get_attribute("data-policy") for line in lines)
        assert policies == ["hardened", "legacy"], (chart.get_attribute("id"), policies)
        for line in lines:
            assert int(line.get_attribute("data-points")) > 10, (chart.get_attribute("id"), line.get_attribute("data-points"))
        # Drawn: the line has a size on the page.
        box = driver.execute_script("return arguments[0].getBoundingClientRect().width", lines[0])
        assert box > 100, box
    rows = driver.find_elements(By.CSS_SELECTOR, "table tbody tr")
    assert len(rows) >= 9, len(rows)
    assert "What happened" in driver.find_element(By.TAG_NAME, "body").text
    if shot:
        driver.save_screenshot(shot)
    errors = console_errors(driver)
    assert errors == [], errors
    print(f"{len(charts)} charts, {len(rows)} figures")
    print("report page: ok")
finally:
    driver.quit()
