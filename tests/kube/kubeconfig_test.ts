/**
 * The kubeconfig loader without @kubernetes/client-node: selection of the current context's cluster and user (pure
 * table tests), in-cluster and -master settings, static credentials read from real files (rotation, precedence,
 * errors that never carry secrets), the credentials TTL and the 401 re-read against a local HTTP server, the exec
 * plugin through the lazily loaded client-node, and a static kubeconfig working in a process where loading
 * client-node would fail (scoped --allow-env).
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { KubeApiError, KubeClient } from "../../src/kube/client.ts";
import { KubeConfigError, loadKubeConfig } from "../../src/kube/config.ts";
import { authHeaders, escapeExtraKey, staticConfig } from "../../src/kube/credentials.ts";
import {
  inClusterSelection,
  selectCurrentContext,
  type Selection,
  SERVICE_ACCOUNT_DIR,
  withMaster,
} from "../../src/kube/kubeconfig.ts";
import { CREDENTIALS_TTL_MS, Transport } from "../../src/kube/transport.ts";

const SECRET_TOKEN = "s3cr3t-t0ken-value";
const SECRET_PASSWORD = "s3cr3t-pa55word";
const SECRET_KEY = "-----BEGIN PRIVATE KEY-----\nS3CR3TKEYMATERIAL\n-----END PRIVATE KEY-----\n";
const b64 = (s: string) => new TextEncoder().encode(s).toBase64();

/** A kubeconfig document with one context "ctx" → cluster "c", user "u". */
function doc(cluster: Record<string, unknown>, user?: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "v1",
    kind: "Config",
    "current-context": "ctx",
    contexts: [{ name: "other", context: { cluster: "x" } }, {
      name: "ctx",
      context: { cluster: "c", ...(user ? { user: "u" } : {}) },
    }],
    clusters: [{ name: "x", cluster: { server: "https://wrong:1" } }, { name: "c", cluster }],
    users: user ? [{ name: "u", user }] : [],
    ...extra,
  };
}

Deno.test("selectCurrentContext: every cluster and user field, relative paths against the kubeconfig's directory", () => {
  const cases: [string, ReturnType<typeof doc>, Partial<Selection["cluster"]>, Partial<Selection["user"]>][] = [
    [
      "CA file (relative), proxy, tls-server-name, trailing slash",
      doc(
        {
          server: "https://h:6443/",
          "certificate-authority": "pki/ca.crt",
          "proxy-url": "http://p:3128",
          "tls-server-name": "api",
        },
        { token: "t" },
      ),
      { server: "https://h:6443", caFile: "/etc/kc/pki/ca.crt", proxyUrl: "http://p:3128", tlsServerName: "api" },
      { token: "t" },
    ],
    [
      "CA data, insecure without CA, server without scheme",
      doc({ server: "h:6443", "insecure-skip-tls-verify": true }, { "token-file": "/abs/tok" }),
      { server: "https://h:6443", insecureSkipTlsVerify: true, caFile: undefined },
      { tokenFile: "/abs/tok" },
    ],
    [
      "kubectl's tokenFile (relative) and token: both kept (the file wins when resolving, as in client-go)",
      doc({ server: "https://h", "certificate-authority-data": "Q0E=" }, { token: "t", tokenFile: "tok" }),
      { caData: "Q0E=" },
      { token: "t", tokenFile: "/etc/kc/tok" },
    ],
    [
      "client certificate files (relative) and basic auth",
      doc({ server: "https://h" }, {
        "client-certificate": "c.crt",
        "client-key": "/k/c.key",
        username: "me",
        password: "pw",
      }),
      {},
      { certFile: "/etc/kc/c.crt", keyFile: "/k/c.key", username: "me", password: "pw" },
    ],
    [
      "client certificate data and impersonation",
      doc({ server: "https://h" }, {
        "client-certificate-data": "Yw==",
        "client-key-data": "aw==",
        as: "alice",
        "as-uid": "42",
        "as-groups": ["g1", "g2"],
        "as-user-extra": { scopes: ["a", "b"] },
      }),
      {},
      {
        certData: "Yw==",
        keyData: "aw==",
        impersonate: { user: "alice", uid: "42", groups: ["g1", "g2"], extra: { scopes: ["a", "b"] } },
      },
    ],
    [
      "exec plugin",
      doc({ server: "https://h" }, { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "x" } }),
      {},
      { plugin: "exec" },
    ],
    ["auth-provider", doc({ server: "https://h" }, { "auth-provider": { name: "oidc" } }), {}, {
      plugin: "auth-provider",
    }],
    ["a context without a user is anonymous", doc({ server: "https://h" }), {}, { name: "" }],
  ];
  for (const [what, d, cluster, user] of cases) {
    const sel = selectCurrentContext(d, "/etc/kc");
    assert.equal(sel.context, "ctx", what);
    assert.equal(sel.cluster.name, "c", what);
    for (const [k, v] of Object.entries(cluster)) {
      assert.deepEqual(sel.cluster[k as keyof typeof cluster], v, `${what}: ${k}`);
    }
    for (const [k, v] of Object.entries(user)) assert.deepEqual(sel.user[k as keyof typeof user], v, `${what}: ${k}`);
  }
});

Deno.test("selectCurrentContext: missing or contradicting fields are KubeConfigErrors naming the field, never secrets", () => {
  const withToken = { token: SECRET_TOKEN };
  const cases: [unknown, RegExp][] = [
    ["just text", /not a kubeconfig/],
    [{ ...doc({ server: "https://h" }, withToken), "current-context": undefined }, /current-context: missing/],
    [
      { ...doc({ server: "https://h" }, withToken), "current-context": "nope" },
      /context "nope" \(the current-context\) not found/,
    ],
    [{ ...doc({ server: "https://h" }, withToken), clusters: [] }, /cluster "c" .* not found in clusters/],
    [{ ...doc({ server: "https://h" }, withToken), users: [] }, /user "u" .* not found in users/],
    [doc({}, withToken), /clusters\[c\]\.cluster\.server: missing/],
    [doc({ server: "https://h:x:y" }, withToken), /clusters\[c\]\.cluster\.server: not a URL/],
    [doc({ server: "ftp://h" }, withToken), /clusters\[c\]\.cluster\.server: scheme must be http or https/],
    [
      doc({ server: "https://h", "insecure-skip-tls-verify": "yes" }, withToken),
      /insecure-skip-tls-verify: must be true or false/,
    ],
    [
      doc({ server: "https://h", "insecure-skip-tls-verify": true, "certificate-authority-data": "Q0E=" }, withToken),
      /insecure-skip-tls-verify cannot be combined with certificate-authority/,
    ],
    [
      doc({ server: "https://h" }, { token: SECRET_TOKEN, username: "me", password: SECRET_PASSWORD }),
      /users\[u\]\.user: more than one authentication method/,
    ],
    [doc({ server: "https://h" }, { exec: {}, "auth-provider": {} }), /exec cannot be combined with auth-provider/],
    [
      doc({ server: "https://h" }, { "client-certificate-data": "Yw==" }),
      /client-certificate\(-data\) and client-key\(-data\) must be given together/,
    ],
    [doc({ server: "https://h" }, { "client-key-data": b64(SECRET_KEY) }), /must be given together/],
    [doc({ server: "https://h" }, { token: 42 }), /users\[u\]\.user\.token: must be a string/],
    [doc({ server: "https://h" }, { "as-groups": "g" }), /as-groups: must be a list of strings/],
  ];
  for (const [d, re] of cases) {
    assert.throws(() => selectCurrentContext(d, "/"), (e: Error) => {
      assert.ok(e instanceof KubeConfigError, `${e}`);
      assert.match(e.message, re);
      for (const s of [SECRET_TOKEN, SECRET_PASSWORD, "S3CR3TKEY", b64(SECRET_KEY)]) {
        assert.ok(!e.message.includes(s), e.message);
      }
      return true;
    });
  }
});

Deno.test("inClusterSelection and withMaster: like client-go (IPv6 in brackets, always https; -master keeps the rest)", () => {
  const v4 = inClusterSelection({ host: "10.0.0.1", port: "443" }, "/root");
  assert.equal(v4.cluster.server, "https://10.0.0.1:443");
  assert.equal(v4.cluster.caFile, `/root${SERVICE_ACCOUNT_DIR}/ca.crt`);
  assert.equal(v4.user.tokenFile, `/root${SERVICE_ACCOUNT_DIR}/token`);
  assert.equal(inClusterSelection({ host: "fd00::1", port: "6443" }).cluster.server, "https://[fd00::1]:6443");
  assert.throws(() => inClusterSelection({ host: "10.0.0.1" }), /KUBERNETES_SERVICE_HOST\/PORT unset/);

  const sel = selectCurrentContext(doc({ server: "https://h", "certificate-authority": "/ca" }, { token: "t" }), "/");
  const over = withMaster(sel, "https://other:7443/");
  assert.equal(over.cluster.server, "https://other:7443");
  assert.equal(over.cluster.caFile, "/ca");
  assert.equal(over.user.token, "t");
  const alone = withMaster(undefined, "http://127.0.0.1:8001");
  assert.equal(alone.cluster.server, "http://127.0.0.1:8001");
  assert.deepEqual(alone.user, { name: "" });
  assert.throws(
    () => withMaster(sel, "not a url"),
    (e: Error) => e instanceof KubeConfigError && /-master not a url/.test(e.message),
  );
});

Deno.test("authHeaders: bearer wins over basic; impersonation headers; extra keys escaped like client-go", () => {
  const h = authHeaders({
    name: "u",
    username: "me",
    password: "pä",
    impersonate: { user: "alice", uid: "42", groups: ["g1", "g2"], extra: { "example.com/a b": ["x", "y"] } },
  }, undefined);
  assert.equal(h.get("authorization"), `Basic ${b64("me:pä")}`);
  assert.equal(h.get("impersonate-user"), "alice");
  assert.equal(h.get("impersonate-uid"), "42");
  assert.equal(h.get("impersonate-group"), "g1, g2");
  assert.equal(h.get("impersonate-extra-example.com%2Fa%20b"), "x, y");
  assert.equal(authHeaders({ name: "u", username: "me" }, "tok").get("authorization"), "Bearer tok");
  assert.equal(escapeExtraKey("ä(x)"), "%C3%A4%28x%29");
});

/** A temp dir `dn42op-kb-…` removed after `fn`. */
async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "dn42op-kb-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("staticConfig: files and data read, token file re-read on every resolve and wins over token; last token kept", () =>
  withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/ca.crt`, "CA PEM");
    await Deno.writeTextFile(`${dir}/tok`, "one\n");
    const sel = selectCurrentContext(
      doc({ server: "https://h", "certificate-authority": "ca.crt" }, {
        token: "inline",
        tokenFile: "tok",
        "client-certificate-data": b64("CERT PEM"),
        "client-key-data": b64("KEY PEM"),
      }),
      dir,
    );
    const cfg = staticConfig(sel);
    const first = await cfg.credentials();
    assert.deepEqual(first.tls, { caCerts: ["CA PEM"], cert: "CERT PEM", key: "KEY PEM" });
    assert.equal(first.headers.get("authorization"), "Bearer one");
    await Deno.writeTextFile(`${dir}/tok`, "two");
    assert.equal((await cfg.credentials()).headers.get("authorization"), "Bearer two");
    await Deno.remove(`${dir}/tok`);
    assert.equal(
      (await cfg.credentials()).headers.get("authorization"),
      "Bearer two",
      "a failed re-read keeps the last",
    );
    await Deno.remove(`${dir}/ca.crt`);
    await assert.rejects(cfg.credentials(), /clusters\[c\]\.cluster\.certificate-authority .*ca\.crt/);
  }));

Deno.test("loadKubeConfig: file errors name the field and path; bad data and YAML errors carry no secret", () =>
  withDir(async (dir) => {
    let n = 0;
    const write = (d: unknown, name = `kc${n++}`) =>
      Deno.writeTextFile(`${dir}/${name}`, stringify(d)).then(() => `${dir}/${name}`);
    const cases: [string, RegExp][] = [
      [
        await write(doc({ server: "https://h" }, { tokenFile: "missing-token" })),
        /users\[u\]\.user\.tokenFile .*missing-token/,
      ],
      [
        await write(doc({ server: "https://h" }, { "client-certificate": "c.crt", "client-key": "c.key" })),
        /users\[u\]\.user\.client-certificate .*c\.crt/,
      ],
      [
        await write(
          doc({ server: "https://h" }, { "client-certificate-data": b64("C"), "client-key-data": `!${SECRET_TOKEN}` }),
        ),
        /users\[u\]\.user\.client-key-data: not valid base64/,
      ],
      [await write(doc({ server: "https://h" }, { token: SECRET_TOKEN }), "ok"), /^$/],
    ];
    const yaml = `${dir}/bad.yaml`;
    await Deno.writeTextFile(yaml, `current-context: ctx\nusers:\n- name: u\n  user: {token: "${SECRET_TOKEN}\n`);
    cases.push([yaml, /-kubeconfig .*bad\.yaml: not valid YAML \(line \d+, column \d+\)/]);
    for (const [path, re] of cases) {
      if (re.source === "^$") {
        assert.equal(loadKubeConfig({ kubeconfig: path }).cluster.server, "https://h");
        continue;
      }
      assert.throws(() => loadKubeConfig({ kubeconfig: path }), (e: Error) => {
        assert.ok(e instanceof KubeConfigError, String(e));
        assert.match(e.message, re);
        assert.ok(e.message.startsWith(`-kubeconfig ${path}: `), e.message);
        assert.ok(!e.message.includes(SECRET_TOKEN), e.message);
        return true;
      });
    }
  }));

Deno.test("Transport: a rotated token file is picked up after the TTL, not before", () =>
  withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/tok`, "one");
    await Deno.writeTextFile(`${dir}/kc`, stringify(doc({ server: "http://127.0.0.1:1" }, { tokenFile: "tok" })));
    let now = 0;
    const t = new Transport(loadKubeConfig({ kubeconfig: `${dir}/kc` }), () => now);
    try {
      assert.equal((await t.prepare()).headers.get("authorization"), "Bearer one");
      await Deno.writeTextFile(`${dir}/tok`, "two");
      now = CREDENTIALS_TTL_MS - 1;
      assert.equal((await t.prepare()).headers.get("authorization"), "Bearer one");
      now = CREDENTIALS_TTL_MS;
      assert.equal((await t.prepare()).headers.get("authorization"), "Bearer two");
    } finally {
      t.close();
    }
  }));

/** A local HTTP API stand-in answering 200 only to `Bearer <accepted()>`, 401 otherwise; records the tokens. */
function tokenServer(accepted: () => string) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const auth = req.headers.get("authorization") ?? "";
    seen.push(auth);
    if (auth !== `Bearer ${accepted()}`) {
      return Response.json({ kind: "Status", code: 401, reason: "Unauthorized", message: "Unauthorized" }, {
        status: 401,
      });
    }
    return Response.json({ kind: "Namespace", metadata: { name: "default" } });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

Deno.test("KubeClient: 401 → the token file is re-read at once (no TTL wait); the token never shows in the error", () =>
  withDir(async (dir) => {
    const srv = tokenServer(() => "fresh");
    await Deno.writeTextFile(`${dir}/tok`, SECRET_TOKEN);
    await Deno.writeTextFile(`${dir}/kc`, stringify(doc({ server: srv.url }, { tokenFile: "tok" })));
    const client = new KubeClient(loadKubeConfig({ kubeconfig: `${dir}/kc` }));
    const ns = { group: "", version: "v1", plural: "namespaces", namespaced: false };
    try {
      await assert.rejects(client.get(ns, "", "default"), (e: Error) => {
        assert.ok(e instanceof KubeApiError && e.code === 401, String(e));
        assert.ok(!e.message.includes(SECRET_TOKEN), e.message);
        return true;
      });
      await Deno.writeTextFile(`${dir}/tok`, "fresh");
      const got = await client.get<{ metadata: { name?: string } }>(ns, "", "default");
      assert.equal(got.metadata.name, "default");
      assert.deepEqual(srv.seen, [`Bearer ${SECRET_TOKEN}`, "Bearer fresh"]);
    } finally {
      client.close();
      await srv.close();
    }
  }));

Deno.test("loadKubeConfig: an exec user gets its token from the plugin through the lazily loaded client-node", () =>
  withDir(async (dir) => {
    const srv = tokenServer(() => "from-exec");
    const cred = JSON.stringify({
      apiVersion: "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      status: { token: "from-exec" },
    });
    await Deno.writeTextFile(
      `${dir}/kc`,
      // client-node refuses plain http unless insecure-skip-tls-verify is set (its own rule, also before this loader)
      stringify(doc({ server: srv.url, "insecure-skip-tls-verify": true }, {
        exec: { apiVersion: "client.authentication.k8s.io/v1", command: "sh", args: ["-c", `echo '${cred}'`] },
      })),
    );
    const client = new KubeClient(loadKubeConfig({ kubeconfig: `${dir}/kc` }));
    try {
      const got = await client.get<{ metadata: { name?: string } }>(
        { group: "", version: "v1", plural: "namespaces", namespaced: false },
        "",
        "default",
      );
      assert.equal(got.metadata.name, "default");
      assert.deepEqual(srv.seen, ["Bearer from-exec"]);
    } finally {
      client.close();
      await srv.close();
    }
  }));

Deno.test("a static kubeconfig works where client-node cannot load (scoped --allow-env): client-node stays unloaded", () =>
  withDir(async (dir) => {
    const srv = tokenServer(() => "static");
    await Deno.writeTextFile(`${dir}/kc`, stringify(doc({ server: srv.url }, { token: "static" })));
    const script = `${dir}/probe.ts`;
    const root = new URL("../../", import.meta.url).pathname;
    await Deno.writeTextFile(
      script,
      `import { KubeClient } from "${root}src/kube/client.ts";
import { loadKubeConfig } from "${root}src/kube/config.ts";
const c = new KubeClient(loadKubeConfig({ kubeconfig: Deno.args[0] }));
const ns = await c.get({ group: "", version: "v1", plural: "namespaces", namespaced: false }, "", "default");
c.close();
console.log(ns.metadata.name);
try {
  await import("@kubernetes/client-node");
  console.log("client-node loadable");
} catch (e) {
  console.log("client-node not loadable:", e.name);
}
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--config=${root}deno.json`,
        "--allow-read",
        "--allow-net=127.0.0.1",
        "--allow-env=LOG_TOKENS,LOG_STREAM",
        script,
        `${dir}/kc`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    await srv.close();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    // the probe proves the environment would have stopped client-node, so the request above ran without it
    assert.deepEqual(stdout.trim().split("\n"), ["default", "client-node not loadable: NotCapable"]);
  }));
