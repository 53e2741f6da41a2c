import assert from "node:assert/strict";
import type { WireGuardBackend } from "../../src/wireguard/backend.ts";
import { ApplyError, WireGuardClient } from "../../src/wireguard/client.ts";
import type { AllowedIpRemoval } from "../../src/wireguard/diff.ts";
import { DeviceNotFoundError, UapiError, WireGuardError } from "../../src/wireguard/errors.ts";
import { kernelHasRemoveMe } from "../../src/wireguard/kernel.ts";
import type { DeviceState, DeviceUpdate } from "../../src/wireguard/model.ts";
import type { UserspaceBackend } from "../../src/wireguard/userspace.ts";
import { device, livePeer, peer } from "./fixtures.ts";

/** An in-memory backend recording the requests it gets (selection and error-path tests only). */
class FakeBackend implements WireGuardBackend {
  sent: DeviceUpdate[] = [];
  failAt = -1;
  reads = 0;
  probes = 0;
  constructor(
    readonly kind: "kernel" | "userspace",
    readonly devices: Map<string, DeviceState>,
    readonly removal: AllowedIpRemoval = "remove-me",
  ) {}
  getDevice(name: string): Promise<DeviceState> {
    this.reads++;
    const d = this.devices.get(name);
    return d ? Promise.resolve({ ...d, peers: [...d.peers] }) : Promise.reject(new DeviceNotFoundError(name));
  }
  setDevice(name: string, update: DeviceUpdate): Promise<void> {
    if (this.sent.length === this.failAt) return Promise.reject(new UapiError(`set ${name}`, 22));
    this.sent.push(update);
    if (update.listenPort) this.devices.get(name)!.listenPort = update.listenPort;
    return Promise.resolve();
  }
  allowedIpRemoval(): Promise<AllowedIpRemoval> {
    this.probes++;
    return Promise.resolve(this.removal);
  }
  hasDevice(name: string): Promise<boolean> {
    return Promise.resolve(this.devices.has(name));
  }
  createDevice(name: string): Promise<void> {
    this.devices.set(name, device([], { name }));
    return Promise.resolve();
  }
  deleteDevice(name: string): Promise<void> {
    return this.devices.delete(name) ? Promise.resolve() : Promise.reject(new DeviceNotFoundError(name));
  }
}

function client(opts: { userspace: string[]; kernel?: string[] | null; choice?: "auto" | "kernel" | "userspace" }) {
  const u = new FakeBackend("userspace", new Map(opts.userspace.map((n) => [n, device([], { name: n })])));
  const k = opts.kernel === null || opts.kernel === undefined
    ? undefined
    : new FakeBackend("kernel", new Map(opts.kernel.map((n) => [n, device([], { name: n })])));
  const c = new WireGuardClient(
    { userspace: u as unknown as UserspaceBackend, kernel: () => Promise.resolve(k) },
    opts.choice,
  );
  return { c, u, k };
}

Deno.test("client: auto picks userspace for a wireguard-go device, else kernel if the family resolves, else userspace", async () => {
  const { c } = client({ userspace: ["wgu"], kernel: ["wgk"] });
  assert.equal((await c.backendFor("wgu")).kind, "userspace");
  assert.equal((await c.backendFor("wgk")).kind, "kernel");
  assert.equal((await c.backendFor("new")).kind, "kernel");
  const noKernel = client({ userspace: [], kernel: null });
  assert.equal((await noKernel.c.backendFor("new")).kind, "userspace");
});

Deno.test("client: devices are created with the kernel where the family resolves, else with wireguard-go", async () => {
  const withKernel = client({ userspace: [], kernel: [] });
  assert.equal(await withKernel.c.createDevice("wg1"), "kernel");
  assert.ok(withKernel.k!.devices.has("wg1") && !withKernel.u.devices.has("wg1"));
  await withKernel.c.deleteDevice("wg1");
  assert.ok(!withKernel.k!.devices.has("wg1"));
  const without = client({ userspace: [], kernel: null });
  assert.equal(await without.c.createDevice("wg1"), "userspace");
  assert.ok(without.u.devices.has("wg1"));
  const forced = client({ userspace: [], kernel: [], choice: "userspace" });
  assert.equal(await forced.c.createDevice("wg1"), "userspace");
  await assert.rejects(forced.c.deleteDevice("nope"), DeviceNotFoundError);
});

Deno.test("client: a forced backend is used, and forcing kernel without the family is a typed error", async () => {
  assert.equal((await client({ userspace: ["x"], kernel: ["x"], choice: "kernel" }).c.backendFor("x")).kind, "kernel");
  assert.equal(
    (await client({ userspace: [], kernel: ["x"], choice: "userspace" }).c.backendFor("x")).kind,
    "userspace",
  );
  await assert.rejects(client({ userspace: [], kernel: null, choice: "kernel" }).c.backendFor("x"), WireGuardError);
});

Deno.test("client: apply sends the diff in order; a failing request reports how many went through and the state", async () => {
  const { c, k } = client({ userspace: [], kernel: ["wg0"] });
  k!.devices.get("wg0")!.peers.push(livePeer(1, ["10.0.0.1/32"]));
  const r = await c.apply("wg0", { listenPort: 51820, peers: [peer(1, ["10.0.0.1/32"]), peer(2, ["10.0.0.2/32"])] });
  assert.equal(r.backend, "kernel");
  assert.equal(k!.sent.length, 1);
  assert.deepEqual(k!.sent, r.updates);
  k!.sent = [];
  k!.failAt = 1;
  await assert.rejects(c.configure("wg0", { listenPort: 1, peers: [] }, { listenPort: 2, peers: [] }), (e: unknown) => {
    assert.ok(e instanceof ApplyError);
    assert.equal(e.applied, 1);
    assert.equal(e.state?.listenPort, 1);
    assert.ok(e.cause instanceof UapiError);
    return true;
  });
  await assert.rejects(c.device("missing"), DeviceNotFoundError);
});

Deno.test("client: apply uses the device the caller read, and asks how to remove allowed IPs only when it removes some", async () => {
  const u = new FakeBackend(
    "userspace",
    new Map([["wg0", device([livePeer(1, ["10.0.0.1/32", "10.0.0.9/32"])])]]),
    "dummy-peer",
  );
  const c = new WireGuardClient({ userspace: u as unknown as UserspaceBackend }, "userspace");
  const read = await u.getDevice("wg0");
  u.reads = 0;
  const added = await c.apply(
    "wg0",
    { peers: [peer(1, ["10.0.0.1/32", "10.0.0.9/32"]), peer(2, ["10.0.0.2/32"])] },
    read,
  );
  assert.equal(added.updates.length, 1, "one request adds the new peer");
  assert.equal(u.reads, 0, "the device the caller passed is not read again");
  assert.equal(u.probes, 0, "nothing removed: no probe of the removal strategy");

  const removed = await c.apply("wg0", { peers: [peer(1, ["10.0.0.1/32"])] });
  assert.equal(u.reads, 1, "without a device from the caller, apply reads it");
  assert.equal(u.probes, 1, "a removed allowed IP asks the device how to remove it");
  const dummy = removed.updates.at(-1)?.peers[0];
  assert.ok(dummy?.remove, "dummy-peer strategy: the last request removes the temporary peer");
  assert.ok(!dummy.publicKey.equals(peer(1, []).publicKey) && !dummy.publicKey.equals(peer(2, []).publicKey));
});

Deno.test("kernel: WGALLOWEDIP_F_REMOVE_ME is assumed from Linux 6.16 on", () => {
  const table: [string, boolean][] = [
    ["6.1.0-56-amd64", false],
    ["6.15.9", false],
    ["6.16.0", true],
    ["6.18.44-fc-v782", true],
    ["7.0.1", true],
    ["5.10.0", false],
    ["garbage", false],
  ];
  for (const [release, want] of table) assert.equal(kernelHasRemoveMe(release), want, release);
});
