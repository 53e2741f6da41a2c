/** Unit tests of the kernel tier's pure parts: apt and modprobe parsing, QEMU's command line and exit, JUnit. */
import assert from "node:assert/strict";
import { parseImageDepends, parseShowDepends } from "../../scripts/kernel/fetch-kernel.ts";
import { moduleList } from "../../scripts/kernel/initramfs.ts";
import { countCases, junitCases } from "../../scripts/kernel/junit.ts";
import { decodeExit, qemuArgs } from "../../scripts/kernel/qemu.ts";
import { guestDeno, guestExit } from "../../scripts/kernel/guest.ts";
import { findKernelTests, verdict } from "../../scripts/kernel/tier.ts";

Deno.test("parseImageDepends finds the ABI package and its exact version", () => {
  const show = "Package: linux-image-amd64\nVersion: 6.1.192-2\n" +
    "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\nDescription: Linux for 64-bit PCs (meta-package)\n";
  assert.deepEqual(parseImageDepends(show), { pkg: "linux-image-6.1.0-56-amd64", version: "6.1.192-2" });
  assert.equal(parseImageDepends(""), null);
  assert.equal(parseImageDepends("Package: linux-image-amd64\nDepends: foo (= 1)\n"), null);
});

Deno.test("parseShowDepends keeps load order, drops repeats and builtins, keeps parameters", () => {
  const text = [
    "insmod /k/net/ipv4/udp_tunnel.ko ",
    "insmod /k/drivers/net/wireguard/wireguard.ko ",
    "insmod /k/net/ipv4/udp_tunnel.ko ",
    "builtin unix",
    "insmod /k/drivers/net/dummy.ko numdummies=0 ",
  ].join("\n");
  assert.deepEqual(parseShowDepends(text), [
    { path: "/k/net/ipv4/udp_tunnel.ko", args: "" },
    { path: "/k/drivers/net/wireguard/wireguard.ko", args: "" },
    { path: "/k/drivers/net/dummy.ko", args: "numdummies=0" },
  ]);
});

Deno.test("moduleList writes one 'file args' line per module", () => {
  const kernel = {
    package: "p",
    packageVersion: "1",
    release: "r",
    vmlinuz: "/v",
    moduleDir: "/m",
    modules: [{ file: "a.ko", args: "" }, { file: "dummy.ko", args: "numdummies=0" }],
  };
  assert.equal(moduleList(kernel), "a.ko\ndummy.ko numdummies=0\n");
});

Deno.test("decodeExit reads isa-debug-exit statuses and treats status 0 as a crash", () => {
  const e = (code: number, over: Partial<Parameters<typeof decodeExit>[0]> = {}) =>
    decodeExit({ code, signal: null, timedOut: false, aborted: false, ...over });
  assert.deepEqual(e(1), { kind: "exited", rc: 0 });
  assert.deepEqual(e(3), { kind: "exited", rc: 1 });
  assert.deepEqual(e(15), { kind: "exited", rc: 7 });
  assert.deepEqual(e(255), { kind: "exited", rc: 127 });
  assert.deepEqual(e(0), { kind: "crashed" });
  assert.deepEqual(e(2), { kind: "qemu-failed", status: 2 });
  assert.deepEqual(e(143, { signal: "SIGTERM" }), { kind: "qemu-failed", status: 143 });
  assert.deepEqual(e(0, { timedOut: true }), { kind: "timeout" });
  assert.deepEqual(e(0, { aborted: true }), { kind: "aborted" });
});

Deno.test("guestExit trusts only a status both report channels agree on", () => {
  assert.equal(guestExit({ kind: "exited", rc: 0 }, 0), 0);
  assert.equal(guestExit({ kind: "exited", rc: 0 }, null), 1, "QEMU's own exit 1 looks like a reported 0");
  assert.equal(guestExit({ kind: "exited", rc: 0 }, 3), 1);
  assert.equal(guestExit({ kind: "exited", rc: 5 }, 5), 5);
  assert.equal(guestExit({ kind: "crashed" }, null), 1);
  assert.equal(guestExit({ kind: "crashed" }, 0), 1, "a panic after the report still fails");
  assert.equal(guestExit({ kind: "timeout" }, null), 124);
  assert.equal(guestExit({ kind: "aborted" }, null), 1);
  assert.equal(guestExit({ kind: "qemu-failed", status: 2 }, null), 1);
});

Deno.test("verdict fails a reported success without a JUnit report", () => {
  assert.equal(verdict(0, true), 0);
  assert.equal(verdict(0, false), 1);
  assert.equal(verdict(1, true), 1);
  assert.equal(verdict(124, false), 124);
});

Deno.test("guestDeno shares the binary's directory only when the guest cannot see it otherwise", () => {
  assert.deepEqual(guestDeno("/r", "/r/.tools/deno"), { path: "/r/.tools/deno", share: null });
  assert.deepEqual(guestDeno("/r", "/usr/local/bin/deno"), { path: "/usr/local/bin/deno", share: null });
  assert.deepEqual(guestDeno("/r", "/root/.deno/bin/deno"), { path: "/root/.deno/bin/deno", share: "/root/.deno/bin" });
  assert.deepEqual(guestDeno("/r", "/rx/deno"), { path: "/rx/deno", share: "/rx" });
});

Deno.test("qemuArgs: no network device, read-only shares, exit device, repo on the command line", () => {
  const args = qemuArgs({
    vmlinuz: "/c/vmlinuz",
    initrd: "/c/initrd",
    append: ["dn42op.repo=/r"],
    shares: [{ tag: "usr", path: "/usr", readonly: true }, { tag: "out", path: "/tmp/o", readonly: false }],
    memoryMiB: 2048,
    cpus: 2,
  });
  const after = (flag: string) => args.filter((_, i) => args[i - 1] === flag);
  assert.deepEqual(after("-nic"), ["none"]);
  assert.ok(args.includes("-nodefaults"));
  assert.deepEqual(after("-virtfs"), [
    "local,path=/usr,mount_tag=usr,security_model=none,multidevs=remap,readonly=on",
    "local,path=/tmp/o,mount_tag=out,security_model=none,multidevs=remap",
  ]);
  assert.ok(after("-append")[0].endsWith("panic=-1 dn42op.repo=/r"));
  assert.ok(after("-device").includes("isa-debug-exit,iobase=244,iosize=0x04"));
  assert.throws(
    () =>
      qemuArgs({
        vmlinuz: "v",
        initrd: "i",
        append: [],
        shares: [{ tag: "x", path: "/a,b", readonly: true }],
        memoryMiB: 1,
        cpus: 1,
      }),
    /commas or spaces/,
  );
});

Deno.test("qemuArgs: a restricted user-mode NIC with command forwards, virtio-serial ports on unix sockets", () => {
  const base = { vmlinuz: "v", initrd: "i", append: [], shares: [], memoryMiB: 1, cpus: 1 };
  const args = qemuArgs({
    ...base,
    net: { forwards: [{ address: "10.0.2.100", port: 6443, command: ["socat", "-", "TCP:127.0.0.1:6443"] }] },
    serialPorts: [{ name: "dn42op.ctl", socket: "/run/x/ctl.sock" }],
  });
  const after = (flag: string) => args.filter((_, i) => args[i - 1] === flag);
  assert.deepEqual(after("-nic"), []);
  assert.deepEqual(after("-netdev"), [
    "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:6443-cmd:socat - TCP:127.0.0.1:6443",
  ]);
  assert.deepEqual(after("-chardev"), ["socket,id=vs0,path=/run/x/ctl.sock,server=on,wait=off"]);
  assert.ok(after("-device").includes("virtio-net-pci,netdev=n0"));
  assert.ok(after("-device").includes("virtserialport,bus=vser0.0,chardev=vs0,name=dn42op.ctl"));
  const fwd = (command: string[]) => ({ forwards: [{ address: "10.0.2.100", port: 1, command }] });
  assert.throws(() => qemuArgs({ ...base, net: fwd(["sh", "-c", "a b"]) }), /spaces or quotes/);
  assert.match(qemuArgs({ ...base, net: fwd(["x", "a,b"]) }).join(" "), /cmd:x a,,b/, "commas doubled");
});

const JUNIT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="6" failures="3" errors="0" time="0.018">
    <testsuite name="./a.kernel_test.ts" tests="6" disabled="1" errors="0" failures="3">
        <testcase name="ok" classname="./a.kernel_test.ts" time="0.001" line="1" col="6">
        </testcase>
        <testcase name="bad" classname="./a.kernel_test.ts" time="0.002" line="2" col="6">
            <failure message="Uncaught Error: boom &lt;&amp;&gt;">Error: boom</failure>
        </testcase>
        <testcase name="skipped" classname="./a.kernel_test.ts" time="0.000" line="3" col="6">
            <skipped/>
        </testcase>
        <testcase name="steps" classname="./a.kernel_test.ts" time="0.002" line="4" col="6">
            <failure message="1 test step failed">1 test step failed.</failure>
        </testcase>
        <testcase name="steps &gt; s1" classname="./a.kernel_test.ts" time="0.000" line="4" col="43">
        </testcase>
        <testcase name="steps &gt; s2" classname="./a.kernel_test.ts" time="0.000" line="4" col="73">
            <failure message="Uncaught Error: x">Error: x</failure>
        </testcase>
    </testsuite>
    <testsuite name="./b.kernel_test.ts" tests="1" disabled="0" errors="0" failures="0">
        <testcase name="only" classname="./b.kernel_test.ts" time="0.001" line="1" col="6">
        </testcase>
    </testsuite>
</testsuites>`;

Deno.test("junitCases lists tests like deno test's summary (steps left out), with failure messages", () => {
  const cases = junitCases(JUNIT);
  assert.deepEqual(cases.map((c) => [c.file, c.name, c.status]), [
    ["./a.kernel_test.ts", "ok", "passed"],
    ["./a.kernel_test.ts", "bad", "failed"],
    ["./a.kernel_test.ts", "skipped", "skipped"],
    ["./a.kernel_test.ts", "steps", "failed"],
    ["./b.kernel_test.ts", "only", "passed"],
  ]);
  assert.equal(cases[1].detail, "Uncaught Error: boom <&>");
  assert.deepEqual(countCases(cases), { passed: 2, failed: 2, skipped: 1 });
  assert.deepEqual(junitCases(`<testsuites name="deno test" tests="0"></testsuites>`), []);
  assert.throws(() => junitCases("<html></html>"), /no <testsuites>/);
});

Deno.test("findKernelTests finds *.kernel_test.ts and *.kernel_lab_test.ts anywhere below tests/, sorted", async () => {
  const repo = await Deno.makeTempDir({ prefix: "dn42op-kt-find-" });
  try {
    const files = [
      "tests/wireguard/b.kernel_test.ts",
      "tests/kernel/a.kernel_test.ts",
      "tests/kernel/a_test.ts",
      "tests/e2e/c.kernel_lab_test.ts",
      "tests/e2e/c_steps.ts",
    ];
    for (const f of files) {
      await Deno.mkdir(`${repo}/${f.slice(0, f.lastIndexOf("/"))}`, { recursive: true });
      await Deno.writeTextFile(`${repo}/${f}`, "");
    }
    assert.deepEqual(await findKernelTests(repo), [
      "tests/e2e/c.kernel_lab_test.ts",
      "tests/kernel/a.kernel_test.ts",
      "tests/wireguard/b.kernel_test.ts",
    ]);
  } finally {
    await Deno.remove(repo, { recursive: true });
  }
});
