// Drives the Linli dashboard in headless Chromium (Debian's package) with playwright-core, for the Rust test
// server/tests/http/dashboard.rs, which starts the server with a seeded data set and checks what this prints.
// Usage: node dashboard.mjs <base url> <username> <password> <artefact dir>
// Prints one JSON object: console errors, the KPI texts of each panel, the downloaded CSV's first two lines, and
// where the screenshot was written.
import { chromium } from "playwright-core";
import { readFile } from "node:fs/promises";
import path from "node:path";

const [base, username, password, outDir] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  headless: true,
  // As root in a sandbox-less container; no background traffic (the machine has no internet).
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const result = { consoleErrors: [], pageErrors: [], failedRequests: [] };
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1500 }, locale: "zh-CN" });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") result.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => result.pageErrors.push(String(e)));
  page.on("requestfailed", (r) => result.failedRequests.push(r.url()));
  await page.goto(base + "/", { waitUntil: "load" });
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("body[data-ready=true]", { timeout: 20000 });
  result.error = await page.textContent("#error");
  result.loginHidden = await page.isHidden("#login-panel");
  for (const panel of ["compliance", "outcomes", "coverage"]) {
    result[panel] = await page.$$eval(`#k-${panel} .kpi`, (els) => els.map((e) => [e.querySelector("span").textContent, e.querySelector("b").textContent]));
  }
  // A district admin's community selector: shown only to them, listing every community.
  result.communityPick = await page.isVisible("#community-pick");
  result.communities = await page.$$eval("select[name=community] option", (els) => els.map((e) => e.textContent));
  if (result.communityPick && result.communities.length > 1) {
    // The second community: its reports replace the first's.
    const second = await page.$$eval("select[name=community] option", (els) => els[1].value);
    await page.selectOption("select[name=community]", second);
    await page.waitForSelector(`body[data-loaded="${second}"]`, { timeout: 20000 });
    result.secondCompliance = await page.$$eval("#k-compliance .kpi", (els) => els.map((e) => [e.querySelector("span").textContent, e.querySelector("b").textContent]));
    result.secondError = await page.textContent("#error");
    const first = await page.$$eval("select[name=community] option", (els) => els[0].value);
    await page.selectOption("select[name=community]", first);
    await page.waitForSelector(`body[data-loaded="${first}"]`, { timeout: 20000 });
  }
  result.red = await page.$$eval("#t-red tr td:nth-child(3)", (els) => els.map((e) => e.textContent));
  // The district-wide list: shown to a district admin only, each handler with their community.
  result.districtShown = await page.isVisible("#p-district");
  result.districtRed = await page.$$eval("#t-district-red tr td:nth-child(2)", (els) => els.map((e) => e.textContent));
  // Each chart drew into a canvas.
  result.canvases = await page.$$eval(".chart canvas", (els) => els.length);
  result.hoursBars = await page.evaluate(() => echarts.getInstanceByDom(document.getElementById("c-hours")).getOption().series[0].data);
  result.hoursLabels = await page.evaluate(() => echarts.getInstanceByDom(document.getElementById("c-hours")).getOption().xAxis[0].data);
  result.feeBars = await page.evaluate(() => echarts.getInstanceByDom(document.getElementById("c-fees")).getOption().series[0].data);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#p-compliance button.csv")]);
  const csvPath = path.join(outDir, download.suggestedFilename());
  await download.saveAs(csvPath);
  const csv = await readFile(csvPath, "utf8");
  result.csvName = download.suggestedFilename();
  result.csvBom = csv.charCodeAt(0) === 0xfeff;
  result.csvHead = csv.replace(/^\uFEFF/, "").split("\r\n").slice(0, 2);
  // English labels switch in place.
  await page.click("#lang");
  result.englishTitle = await page.textContent("#p-compliance h2");
  await page.click("#lang");
  result.screenshot = path.join(outDir, "dashboard.png");
  await page.screenshot({ path: result.screenshot, fullPage: true });
} catch (e) {
  result.exception = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
