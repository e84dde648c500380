/**
 * The web portal end to end in real headless Chromium (Debian's `chromium`, driven by
 * playwright-core): sign in, create a capture through the form (a bad filter and a bad limit
 * refused next to their fields), watch it go Running → Stopped on a real agent in a test host,
 * open the viewer and check its conversation table against tshark's figures for the downloaded
 * file, download the file and a filtered subset, sign out; a change without the CSRF token is
 * refused. Screenshots of every page go to test-artifacts/portal/ (git-ignored).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Lab, REPO_ROOT, runCommand, stopProcess, type LabHost } from './lab/lab.js';
import { runFlows, startResponder } from './lab/traffic.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'portal');

/** tshark's TCP conversations of a file: frames each way (`-z conv,tcp`) and exact bytes each way (per-frame lengths summed by stream). */
async function tsharkTcpConversations(
  file: string,
): Promise<
  Map<string, { a: string; b: string; framesAToB: number; framesBToA: number; bytesAToB: number; bytesBToA: number }>
> {
  const fields = await runCommand('tshark', [
    '-r',
    file,
    '-T',
    'fields',
    '-E',
    'separator=,',
    '-Y',
    'tcp',
    '-e',
    'tcp.stream',
    '-e',
    'ip.src',
    '-e',
    'tcp.srcport',
    '-e',
    'ip.dst',
    '-e',
    'tcp.dstport',
    '-e',
    'frame.len',
  ]);
  assert.equal(fields.code, 0, fields.stderr);
  const byStream = new Map<
    string,
    { a: string; b: string; framesAToB: number; framesBToA: number; bytesAToB: number; bytesBToA: number }
  >();
  for (const line of fields.stdout.trim().split('\n').filter(Boolean)) {
    const [stream, src, sport, dst, dport, len] = line.split(',');
    const from = `${src}:${sport}`;
    const to = `${dst}:${dport}`;
    let c = byStream.get(stream!);
    if (!c) byStream.set(stream!, (c = { a: from, b: to, framesAToB: 0, framesBToA: 0, bytesAToB: 0, bytesBToA: 0 }));
    if (from === c.a) {
      c.framesAToB++;
      c.bytesAToB += Number(len);
    } else {
      c.framesBToA++;
      c.bytesBToA += Number(len);
    }
  }
  // The same frame counts from tshark's own conversation table (`<-` is B→A, `->` is A→B).
  const conv = await runCommand('tshark', ['-r', file, '-q', '-z', 'conv,tcp']);
  assert.equal(conv.code, 0, conv.stderr);
  const table = new Map<string, { framesAToB: number; framesBToA: number }>();
  for (const m of conv.stdout.matchAll(
    /^(\S+:\d+)\s+<->\s+(\S+:\d+)\s+([\d,]+)\s+[\d,]+ \S+\s+([\d,]+)\s+[\d,]+ \S+/gm,
  )) {
    const key = [m[1]!, m[2]!].sort().join(' ');
    table.set(key, { framesBToA: Number(m[3]!.replace(/,/g, '')), framesAToB: Number(m[4]!.replace(/,/g, '')) });
  }
  const out = new Map<
    string,
    { a: string; b: string; framesAToB: number; framesBToA: number; bytesAToB: number; bytesBToA: number }
  >();
  for (const c of byStream.values()) {
    const key = [c.a, c.b].sort().join(' ');
    const t = table.get(key);
    assert.ok(t, `tshark's conversation table has ${key}:\n${conv.stdout}`);
    // tshark's table may name either end A; compare the counts as a pair.
    assert.deepEqual([t.framesAToB, t.framesBToA].sort(), [c.framesAToB, c.framesBToA].sort(), `frames of ${key}`);
    out.set(`${c.a} ${c.b}`, c);
  }
  return out;
}

describe('portal in headless Chromium', { timeout: 300_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let browser: Browser;
  let page: Page;
  const responders: ChildProcess[] = [];
  const rg = `portalrg${process.pid}`;
  const captureName = `portal${process.pid}`;
  const shots: string[] = [];
  const shot = async (name: string, fullPage = true) => {
    const path = join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path, fullPage });
    shots.push(path);
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24']);
    b = await lab.addHost('b', ['10.0.0.4/24']);
    await lab.startServer();
    await lab.installAgent(a, rg, 'vma');
    responders.push(await startResponder(b, { tcp: [80, 8080], udp: [5000] }));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1366, height: 860 }, acceptDownloads: true });
    page = await context.newPage();
  });
  after(async () => {
    if (shots.length) console.log(`portal screenshots: ${ARTIFACTS}\n  ${shots.join('\n  ')}`);
    await browser?.close();
    for (const r of responders) await stopProcess(r);
    await lab?.destroy();
  });

  test('sign in, create a capture through the form, watch it run and stop, analyse it and download it, sign out', async () => {
    // The page loads nothing from anywhere but this server (the CSP would block it anyway).
    const foreign: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(lab.serverUrl)) foreign.push(r.url());
    });
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });

    await page.goto(`${lab.serverUrl}/`);
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'AuthenticationFailed' }).waitFor();
    await shot('01-sign-in');
    await page.getByLabel('Admin token').fill(lab.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // Hosts: the lab host's agent is connected.
    await page.getByRole('heading', { name: 'Hosts' }).waitFor();
    const hostRow = page.locator('tr', { has: page.getByRole('rowheader', { name: /^vma/ }) });
    await hostRow.getByText('Connected').waitFor();
    await page.getByText('Add a host').click();
    await page.getByLabel('Resource group').fill(rg);
    await page.getByLabel('Host (VM) name').fill('newhost');
    await page.getByRole('button', { name: 'Get install command' }).click();
    const command = await page.locator('pre.command').textContent();
    assert.match(command ?? '', /^nw agent --server \S+ --token \S+ --data-dir /);
    await shot('02-hosts');

    // The create form: a bad filter is refused next to its field, before anything is sent.
    await page.getByRole('link', { name: 'Captures' }).click();
    await page.getByRole('link', { name: 'New capture' }).click();
    await page.getByLabel('Name', { exact: true }).fill(captureName);
    await page.getByLabel('Host', { exact: true }).selectOption({ label: 'vma (westcentralus)' });
    await page.getByLabel('Time limit (seconds)').fill('99999');
    await page.getByRole('button', { name: 'Add filter' }).click();
    await page.locator('#f0-protocol').selectOption('TCP');
    await page.locator('#f0-remotePort').fill('80;99999');
    const portError = page.locator('#f0-remotePort-error');
    await portError.waitFor();
    assert.match((await portError.textContent()) ?? '', /filters\[0\]\.remotePort: "99999"/);
    assert.equal(await page.locator('#f0-remotePort').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByRole('button', { name: 'Start capture' }).isDisabled(), true);
    await shot('03-capture-form-bad-filter');
    await page.locator('#f0-remotePort').fill('80');
    await portError.waitFor({ state: 'detached' });
    // What only the API checks (the time limit's range) comes back next to its field, as the API gave it.
    await page.getByRole('button', { name: 'Start capture' }).click();
    const timeError = page.locator('#pc-time-error');
    await timeError.waitFor();
    assert.match(
      (await timeError.textContent()) ?? '',
      /^InvalidRequestContent: PacketCapture: property 'properties\.timeLimitInSeconds' is invalid/,
    );
    await shot('04-capture-form-api-error');
    await page.getByLabel('Time limit (seconds)').fill('8');
    await page.getByRole('button', { name: 'Start capture' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Capture ${captureName} created` })
      .waitFor();

    // Running, with traffic the filter keeps (TCP to port 80) and traffic it drops (8080, UDP).
    await page.getByRole('link', { name: 'See it running' }).click();
    const row = page.locator(`tr[data-capture="${captureName}"]`);
    await row.getByText('Running', { exact: true }).waitFor({ timeout: 20_000 });
    await runFlows(a, [
      ...Array.from({ length: 4 }, () => ({ proto: 'tcp' as const, host: '10.0.0.4', port: 80 })),
      { proto: 'tcp', host: '10.0.0.4', port: 8080 },
      { proto: 'udp', host: '10.0.0.4', port: 5000 },
    ]);
    await shot('05-captures-running');
    await row.getByText('Stopped', { exact: true }).waitFor({ timeout: 30_000 });
    await row.getByText('Stopped: the time limit was reached.').waitFor();
    await row.getByRole('link', { name: 'Download' }).waitFor({ timeout: 20_000 });
    await shot('06-captures-stopped');

    // The file, downloaded through the portal, is the stored one.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('link', { name: 'Download' }).click(),
    ]);
    const file = join(lab.workDir, 'portal.cap');
    await download.saveAs(file);
    const status = (
      await lab.api(
        'POST',
        `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westcentralus/packetCaptures/${captureName}/queryStatus`,
      )
    ).body as { instances: Array<{ file: { sha256: string } }> };
    assert.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), status.instances[0]!.file.sha256);
    const expected = await tsharkTcpConversations(file);
    assert.equal(expected.size, 4, 'the four connections to port 80, nothing else');

    // The viewer's conversation table says what tshark says.
    await row.getByRole('link', { name: 'View' }).click();
    await page.getByRole('heading', { name: `Capture ${captureName}` }).waitFor();
    await page.getByRole('tab', { name: 'Summary' }).waitFor();
    await page.locator('.summary-grid').waitFor({ timeout: 30_000 });
    await shot('07-viewer-summary');
    await page.getByRole('tab', { name: 'Conversations' }).click();
    const table = page.locator('table[data-table="conversations-tcp"]');
    await table.waitFor();
    const shown = await table
      .locator('tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) =>
          Object.fromEntries([...r.querySelectorAll('td')].map((td) => [td.dataset.col, td.dataset.value])),
        ),
      );
    assert.equal(shown.length, expected.size);
    for (const r of shown) {
      const key = `${r.addressA}:${r.portA} ${r.addressB}:${r.portB}`;
      const t = expected.get(key);
      assert.ok(t, `tshark has the conversation ${key} with A the first sender`);
      assert.deepEqual(
        [
          Number(r.packetsAToB),
          Number(r.bytesAToB),
          Number(r.packetsBToA),
          Number(r.bytesBToA),
          Number(r.packets),
          Number(r.bytes),
        ],
        [t.framesAToB, t.bytesAToB, t.framesBToA, t.bytesBToA, t.framesAToB + t.framesBToA, t.bytesAToB + t.bytesBToA],
        key,
      );
    }
    // Sortable and filterable.
    await table.getByRole('button', { name: /^Port A/ }).click();
    const portsA = await table
      .locator('td[data-col="portA"]')
      .evaluateAll((tds) =>
        tds.map((td) => Number((td as unknown as { dataset: Record<string, string> }).dataset.value)),
      );
    assert.deepEqual(
      portsA,
      [...portsA].sort((x, y) => y - x),
      'sorted by port A, descending',
    );
    const onePort = String(portsA[0]);
    await page.getByLabel('Filter rows').fill(onePort);
    assert.equal(await table.locator('tbody tr').count(), 1);
    await shot('08-viewer-conversations');
    await page.getByLabel('Filter rows').fill('');
    for (const [tab, name] of [
      ['I/O graph', '09-viewer-io'],
      ['Protocols', '10-viewer-protocols'],
      ['TCP health', '11-viewer-tcp'],
    ] as const) {
      await page.getByRole('tab', { name: tab }).click();
      await page.locator('#tab-panel > *').first().waitFor();
      await shot(name);
    }

    // Packet list with a display filter, and the matching packets downloaded as a pcap.
    await page.getByRole('tab', { name: 'Packets' }).click();
    await page.getByLabel('Display filter').fill('tcp.port==80 &&');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#display-filter-error').waitFor();
    assert.match((await page.locator('#display-filter-error').textContent()) ?? '', /^InvalidFilter: /);
    const firstPort = [...expected.keys()][0]!.split(' ')[0]!.split(':')[1]!;
    const displayFilter = `tcp.port==${firstPort}`;
    await page.getByLabel('Display filter').fill(displayFilter);
    await page.getByRole('button', { name: 'Apply' }).click();
    const conn = [...expected.values()].find((c) => c.a.endsWith(`:${firstPort}`))!;
    const want = conn.framesAToB + conn.framesBToA;
    await page
      .getByRole('status')
      .filter({ hasText: `${want} of ` })
      .waitFor();
    assert.equal(await page.locator('table[data-table="packets"] tbody tr').count(), want);
    await page.locator('table[data-table="packets"] tbody tr').first().getByRole('button').click();
    await page
      .getByText(/^tcp\b/)
      .first()
      .waitFor();
    await shot('12-viewer-packets', false);
    const [subset] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download matching packets (pcap)' }).click(),
    ]);
    const subsetFile = join(lab.workDir, 'subset.cap');
    await subset.saveAs(subsetFile);
    const all = await runCommand('tshark', ['-r', subsetFile, '-T', 'fields', '-e', 'frame.number']);
    const matching = await runCommand('tshark', [
      '-r',
      subsetFile,
      '-Y',
      displayFilter,
      '-T',
      'fields',
      '-e',
      'frame.number',
    ]);
    const inOriginal = await runCommand('tshark', [
      '-r',
      file,
      '-Y',
      displayFilter,
      '-T',
      'fields',
      '-e',
      'frame.number',
    ]);
    const lines = (s: string) => s.trim().split('\n').filter(Boolean).length;
    assert.equal(lines(all.stdout), want, 'the subset holds the matching packets');
    assert.equal(lines(matching.stdout), want, 'and only them');
    assert.equal(lines(inOriginal.stdout), want, 'as tshark filters the whole file');

    // Alert pages render (nothing configured in this lab).
    await page.getByRole('link', { name: 'Alert rules' }).click();
    await page.getByText('No alert rules yet').waitFor();
    await shot('13-alert-rules');
    await page.getByRole('link', { name: 'Alert-capture endpoints' }).click();
    await page.getByText('No endpoints yet').waitFor();
    await shot('14-alert-capture-endpoints');

    // A change without the CSRF token is refused, even from the signed-in page itself.
    const refused = await page.evaluate(async (path) => {
      const res = await fetch(`${path}?api-version=2024-05-01`, { method: 'DELETE', credentials: 'same-origin' });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    }, `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westcentralus/packetCaptures/${captureName}`);
    assert.deepEqual([refused.status, refused.body.error.code], [403, 'Forbidden']);
    assert.equal(
      (
        await lab.api(
          'GET',
          `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westcentralus/packetCaptures/${captureName}`,
        )
      ).status,
      200,
      'the capture is still there',
    );
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'nw_session');
    assert.ok(session, 'the session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', 'scripts cannot read it');

    // Sign out: back to the sign-in page, and the old session is dead.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await shot('15-signed-out');
    const after = await fetch(
      `${lab.serverUrl}/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines?api-version=2024-05-01`,
      { headers: { cookie: `nw_session=${session.value}` } },
    );
    assert.equal(after.status, 401);

    assert.deepEqual(foreign, [], 'nothing loaded from another origin');
    assert.deepEqual(cspViolations, [], 'no CSP violations');
  });

  test('alert rules show their history and the captures their alerts started; endpoints show their runs', async () => {
    const vmaId = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vma`;
    const endpoint = await lab.nwJson([
      'network',
      'watcher',
      'alert-capture',
      'create',
      '--name',
      'portalEndpoint',
      '--capture-name',
      'alertcap',
      '--time-limit',
      '3',
      '--session-limit',
      '10',
      '--storage-account',
      'nwlocal',
    ]);
    await lab.nwJson([
      'monitor',
      'action-group',
      'create',
      '--name',
      'PortalAG',
      '--resource-group',
      rg,
      '--action',
      'webhook',
      'capture',
      String(endpoint.url),
      'usecommonalertschema',
    ]);
    await lab.nwJson([
      'monitor',
      'metrics',
      'alert',
      'create',
      '--name',
      'PortalBurst',
      '--resource-group',
      rg,
      '--scopes',
      vmaId,
      '--condition',
      'total TCP Segments Sent > 20',
      '--window-size',
      '5s',
      '--evaluation-frequency',
      '1s',
      '--action',
      'PortalAG',
      '--description',
      'a burst of TCP',
    ]);
    const runsPath = `${String(endpoint.id)}/runs`;
    let runs: Array<{ captureId?: string | null }> = [];
    try {
      await lab.waitFor(
        async () => {
          await runFlows(
            a,
            Array.from({ length: 10 }, () => ({ proto: 'tcp' as const, host: '10.0.0.4', port: 80 })),
          );
          runs =
            ((await lab.api('GET', runsPath)).body as { value?: Array<{ captureId?: string | null }> }).value ?? [];
          return runs.some((r) => r.captureId);
        },
        60_000,
        'the alert to start a capture',
      );
    } catch (error) {
      const alerts = (await lab.api('GET', `/subscriptions/${SUB}/providers/Microsoft.AlertsManagement/alerts`)).body;
      throw new Error(
        `${(error as Error).message}\nruns: ${JSON.stringify(runs)}\nalerts: ${JSON.stringify(alerts).slice(0, 2000)}`,
      );
    }

    await page.goto(`${lab.serverUrl}/#/alerts`);
    await page.getByLabel('Admin token').fill(lab.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const rule = page.locator('article', { has: page.getByRole('heading', { name: /PortalBurst/ }) });
    await rule
      .getByText('Total TCP Segments Sent GreaterThan 20')
      .or(rule.getByText(/TCP Segments Sent/))
      .first()
      .waitFor();
    await rule
      .locator('tbody tr', { hasText: 'vma' })
      .getByText(/Fired|Resolved/)
      .first()
      .waitFor({ timeout: 20_000 });
    await rule.getByRole('link', { name: 'alertcap' }).first().waitFor({ timeout: 20_000 });
    await shot('16-alert-rules-with-history');

    await page.getByRole('link', { name: 'Alert-capture endpoints' }).click();
    const ep = page.locator('article', { has: page.getByRole('heading', { name: 'portalEndpoint' }) });
    const run = ep.locator('tbody tr', { has: page.getByRole('link', { name: 'alertcap' }) }).first();
    await run.waitFor();
    assert.match((await run.textContent()) ?? '', /PortalBurst.*vma/);
    await shot('17-alert-capture-runs');
    // The run's capture opens in the viewer.
    await run.getByRole('link', { name: 'alertcap' }).click();
    await page.getByRole('heading', { name: 'Capture alertcap' }).waitFor();
  });
});
