/**
 * Certificates for the local control plane, made with WebCrypto and @peculiar/x509 (ECDSA P-256, no openssl):
 * a serving CA and the apiserver's serving certificate (SANs 127.0.0.1, localhost), a client CA and client
 * certificates (CN = user, O = groups), and the service-account signing key pair.
 */
import "reflect-metadata"; // tsyringe, used by @peculiar/x509, needs the Reflect polyfill loaded first
import * as x509 from "@peculiar/x509";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** A certificate authority able to sign leaf certificates. */
export interface Ca extends PemPair {
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
}

/** What a leaf certificate is for. */
export interface LeafSpec {
  commonName: string;
  /** Subject O attributes; Kubernetes reads them as the user's groups. */
  organizations?: string[];
  usage: "server" | "client";
  /** Subject alternative names for server certificates. */
  ips?: string[];
  dnsNames?: string[];
  days?: number;
}

function pem(label: string, der: ArrayBuffer): string {
  return x509.PemConverter.encode(der, label);
}

function serial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] &= 0x7f; // positive
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function keyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
}

/** PKCS#8 PEM ("PRIVATE KEY") of a private key. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", key));
}

/** Creates a self-signed CA valid for `days` (default 365). */
export async function createCa(commonName: string, days = 365): Promise<Ca> {
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert,
    privateKey: keys.privateKey,
    certPem: cert.toString("pem"),
    keyPem: await privateKeyPem(keys.privateKey),
  };
}

/** Loads a CA written earlier by {@link createCa} (PEM certificate + PKCS#8 key). */
export async function loadCa(certPem: string, keyPem: string): Promise<Ca> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey = await crypto.subtle.importKey("pkcs8", der, ALG, true, ["sign"]);
  return { cert: new x509.X509Certificate(certPem), privateKey, certPem, keyPem };
}

/** Issues a leaf certificate signed by `ca`. */
export async function issueCert(ca: Ca, spec: LeafSpec): Promise<PemPair> {
  const keys = await keyPair();
  const now = Date.now();
  const sans: x509.JsonGeneralName[] = [
    ...(spec.ips ?? []).map((value) => ({ type: "ip" as const, value })),
    ...(spec.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([
      spec.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
  ];
  if (sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [...(spec.organizations ?? []).map((o) => ({ O: [o] })), { CN: [spec.commonName] }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (spec.days ?? 365) * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Creates the service-account token signing key pair: PKCS#8 private key and SPKI public key, PEM. */
export async function createServiceAccountKeys(): Promise<{ keyPem: string; pubPem: string }> {
  const keys = await keyPair();
  return {
    keyPem: await privateKeyPem(keys.privateKey),
    pubPem: pem("PUBLIC KEY", await crypto.subtle.exportKey("spki", keys.publicKey)),
  };
}
