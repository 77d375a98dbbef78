"""The live dashboard in headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium): the zones render with their storage nodes and API sparklines, an AZ outage injected
with the page's own button turns the zone unavailable in the page within 2 s, healing it from the
page brings it back, the volume search pauses a volume's I/O, the layout holds still while it
updates and fits a phone-width screen, and the browser logs no console error.

usage: dashboard.py ENDPOINT [SCREENSHOT_DIR] [FAULT_TOKEN]
"""

import json
import sys
import threading
import time
import urllib.request

import boto3
from botocore.config import Config
from selenium.webdriver.common.by import By

from browser import chromium, console_errors

endpoint = sys.argv[1]
shots = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
token = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
ec2 = boto3.client(
    "ec2",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)


def squall(path):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(endpoint + path, headers=headers)) as r:
        return json.load(r)


def wait_for(what, check, timeout=10.0):
    """Polls `check` until it answers something truthy; answers it and the seconds it took."""
    started = time.monotonic()
    while True:
        value = check()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
a, b = zones[0], zones[1]
volumes = [
    ec2.create_volume(Size=1, AvailabilityZone=z, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": f"dash-{i}"}]}])["VolumeId"]
    for i, z in enumerate([a, a, a, b])
]

# Background traffic, as an application under test would send: CreateVolume in zones a and b and
# a zone-free call, without retries, so the page has calls to draw and the outage has calls to fail.
stop = threading.Event()
traffic = {"ok": 0, "failed": 0}


def send_traffic():
    client = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))
    while not stop.is_set():
        for call in (lambda: client.create_volume(Size=1, AvailabilityZone=a),
                     lambda: client.create_volume(Size=1, AvailabilityZone=b),
                     client.describe_regions):
            try:
                call()
                traffic["ok"] += 1
            except client.exceptions.ClientError:
                traffic["failed"] += 1
        stop.wait(0.25)


traffic_thread = threading.Thread(target=send_traffic, daemon=True)
traffic_thread.start()

driver = chromium(1280, 800)
try:
    driver.get(endpoint + "/_squall/dashboard")

    def js(script, *args):
        return driver.execute_script(script, *args)

    # Every zone of the region, each with its state; zone a with one tile per storage node.
    wait_for("the zones", lambda: len(driver.find_elements(By.CSS_SELECTOR, "article.zone")) == len(zones))
    rendered = [e.get_attribute("data-zone") for e in driver.find_elements(By.CSS_SELECTOR, "article.zone")]
    assert rendered == zones, rendered
    nodes_of_a = len(squall("/_squall/status")["regions"]["us-east-1"][0]["storage"]["nodes"])
    tiles, _ = wait_for("node tiles", lambda: driver.find_elements(
        By.CSS_SELECTOR, f'article[data-zone="{a}"] .node[data-health="up"]'))
    assert len(tiles) == nodes_of_a, (len(tiles), nodes_of_a)

    def state_of(zone):
        return driver.find_element(By.CSS_SELECTOR, f'article[data-zone="{zone}"] .state-text').text

    assert all(state_of(z) == "available" for z in zones)

    # The CreateVolume calls above show as points of zone a's API sparkline.
    wait_for("API sparkline points", lambda: int(driver.find_element(
        By.CSS_SELECTOR, f'article[data-zone="{a}"] .spark svg').get_attribute("data-points") or 0) > 0)
    summary = driver.find_element(By.CSS_SELECTOR, f'article[data-zone="{a}"] .spark > span:last-child').text

    # The layout holds still across refreshes.
    def boxes():
        return js("return [...document.querySelectorAll('article.zone, #faults-panel h2')]"
                  ".map(e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })")

    before = boxes()
    time.sleep(2.2)
    assert boxes() == before, (before, boxes())
    assert js("return document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scroll at 1280"
    if shots:
        driver.save_screenshot(f"{shots}/dashboard-healthy.png")

    # With a token, the page asks for it before a fault goes in.
    if token:
        assert driver.find_element(By.ID, "token-label").is_displayed()
        driver.find_element(By.ID, "token").send_keys(token)

    # AZ outage from the page's control: the zone turns unavailable in the page within 2 s.
    driver.find_element(By.CSS_SELECTOR, f'article[data-zone="{a}"] button[data-action="az-outage"]').click()
    _, took = wait_for("zone a unavailable", lambda: state_of(a) == "unavailable", timeout=2.0)
    # Zone a's CreateVolume calls now fail, and its sparkline shows them; zone b's do not.
    wait_for("failed calls in zone a's sparkline", lambda: driver.find_elements(
        By.CSS_SELECTOR, f'article[data-zone="{a}"] .spark rect.fail'), timeout=3.0)
    faults = squall("/_squall/faults")["faults"]
    assert [(f["kind"], f["zone"]) for f in faults] == [("az-outage", a)], faults
    assert state_of(b) == "available"
    assert not driver.find_elements(By.CSS_SELECTOR, f'article[data-zone="{b}"] .spark rect.fail')
    # The zone's CreateVolume is refused while its control path is cut.
    try:
        ec2.create_volume(Size=1, AvailabilityZone=a)
        raise AssertionError("CreateVolume succeeded in a zone under an outage")
    except ec2.exceptions.ClientError as e:
        refused = e.response["Error"]["Code"]
    wait_for("the fault in the table", lambda: driver.find_elements(By.CSS_SELECTOR, "#faults tr[data-fault]"))
    time.sleep(1.2)
    # The outage's message and marks do not move a zone on the page.
    assert boxes() == before, (before, boxes())
    if shots:
        driver.save_screenshot(f"{shots}/dashboard-az-outage.png")

    stop.set()
    traffic_thread.join()
    # Heal it from the page: the zone returns.
    driver.find_element(By.CSS_SELECTOR, '#faults tr[data-fault] button[data-action="heal"]').click()
    _, healed_in = wait_for("zone a available again", lambda: state_of(a) == "available", timeout=2.0)
    assert squall("/_squall/faults")["faults"] == []

    # Crash one storage node by pressing its tile; press the crashed tile to bring it back.
    driver.find_element(By.CSS_SELECTOR, f'article[data-zone="{a}"] .node[data-node="0"]').click()
    wait_for("node 0 crashed", lambda: driver.find_elements(
        By.CSS_SELECTOR, f'article[data-zone="{a}"] .node[data-node="0"][data-health="crashed"]'), timeout=2.0)
    driver.find_element(By.CSS_SELECTOR, f'article[data-zone="{a}"] .node[data-node="0"]').click()
    wait_for("node 0 up", lambda: driver.find_elements(
        By.CSS_SELECTOR, f'article[data-zone="{a}"] .node[data-node="0"][data-health="up"]'), timeout=2.0)

    # The volume search lists zone a's volumes; Pause I/O makes one stuck as the search shows.
    driver.find_element(By.ID, "q").send_keys(f"dash {a}")
    driver.find_element(By.CSS_SELECTOR, "#volume-search button").click()
    rows, _ = wait_for("volume rows", lambda: driver.find_elements(By.CSS_SELECTOR, "#volumes tr[data-volume]"))
    listed = sorted(r.get_attribute("data-volume") for r in rows)
    assert listed == sorted(volumes[:3]), listed
    rows[0].find_element(By.CSS_SELECTOR, 'button[data-action="volume-io-pause"]').click()
    paused = rows[0].get_attribute("data-volume")
    wait_for("the pause fault", lambda: [f for f in squall("/_squall/faults")["faults"]
                                          if f["kind"] == "volume-io-pause" and f["volumes"] == [paused]])
    status = ec2.describe_volume_status(VolumeIds=[paused])["VolumeStatuses"][0]["VolumeStatus"]["Status"]
    assert status == "impaired", status
    driver.find_element(By.ID, "heal-all").click()
    wait_for("every fault healed", lambda: squall("/_squall/faults")["faults"] == [])

    # A FIS experiment shows with its state, its actions and the time it has left.
    fis = boto3.client("fis", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test")
    template = fis.create_experiment_template(
        description="dashboard drill", roleArn="arn:aws:iam::000000000000:role/fis-drills",
        stopConditions=[{"source": "none"}],
        targets={"vols": {"resourceType": "aws:ec2:ebs-volume",
                          "resourceArns": [f"arn:aws:ec2:us-east-1:000000000000:volume/{volumes[3]}"],
                          "selectionMode": "ALL"}},
        actions={"pause": {"actionId": "aws:ebs:pause-volume-io", "parameters": {"duration": "PT5M"},
                           "targets": {"Volumes": "vols"}}})["experimentTemplate"]
    experiment = fis.start_experiment(experimentTemplateId=template["id"])["experiment"]["id"]
    # The table is redrawn every second: read its rows in one step inside the page.
    def experiment_rows():
        return js("return [...document.querySelectorAll('#experiments tr')].map(r => r.innerText)")

    row, _ = wait_for("the experiment row", lambda: [
        r for r in experiment_rows()
        if experiment in r and "running" in r and "s left" in r and "pause: running" in r])
    fis.stop_experiment(id=experiment)
    wait_for("the experiment stopped", lambda: [r for r in experiment_rows() if experiment in r and "stopped" in r])

    # A phone-width screen: the zones stack, nothing scrolls sideways.
    driver.set_window_size(390, 844)
    time.sleep(1.2)
    assert js("return document.documentElement.scrollWidth <= window.innerWidth"), js(
        "return [document.documentElement.scrollWidth, window.innerWidth]")
    xs = js("return [...document.querySelectorAll('article.zone')].map(e => e.getBoundingClientRect().x)")
    assert len(set(xs)) == 1, xs
    if shots:
        js("window.scrollTo(0, 0)")
        driver.save_screenshot(f"{shots}/dashboard-phone.png")

    errors = console_errors(driver)
    assert errors == [], errors
    print(f"zones {len(zones)}, nodes in {a}: {nodes_of_a}, API {summary}; outage shown in {took:.2f} s, "
          f"CreateVolume refused with {refused}, healed in {healed_in:.2f} s; traffic {traffic}; "
          f"experiment row {row[0]!r}")
    print("dashboard in chromium: ok")
finally:
    stop.set()
    driver.quit()
