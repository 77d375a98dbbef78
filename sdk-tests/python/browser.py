"""Headless Chromium for the page tests: Debian's chromium driven through its chromium-driver by
Selenium, with the browser's console kept so a test can check it logged no error."""

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def chromium(width, height):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--disable-gpu", "--hide-scrollbars"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
