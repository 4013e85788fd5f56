// Cross-check helper for tests/crosscheck/test_qr_ethers.py: the QR seal vectors through
// npm ethers v6 (TypedDataEncoder, verifyTypedData, Wallet.signTypedData, Signature).
//
// usage:  node qr_ethers.js VALID_JSON INVALID_JSON
// stdout: {"ethers": "6.x", "encodeType": "...",
//          "valid":  [{"name", "digest", "recovered", "recoveredFromCompact", "signed"}, ...],
//          "verify": [{"name", "recovered"}, ...]}
// The Python test compares every field with the vectors and with ledger.qr.
"use strict";
const fs = require("fs");
const { ethers } = require("ethers");

async function main() {
  const [validPath, invalidPath] = process.argv.slice(2);
  const valid = JSON.parse(fs.readFileSync(validPath, "utf8"));
  const invalid = JSON.parse(fs.readFileSync(invalidPath, "utf8"));

  // ethers derives the domain type itself and wants only the message types
  const types = { ...valid.types };
  delete types.EIP712Domain;
  const domainOf = (d) => ({
    name: valid.domainName,
    version: valid.domainVersion,
    chainId: d.chainId,
    verifyingContract: d.verifyingContract,
  });

  const out = {
    ethers: ethers.version,
    encodeType: ethers.TypedDataEncoder.from(types).encodeType(valid.primaryType),
    valid: [],
    verify: [],
  };
  for (const v of valid.vectors) {
    const domain = domainOf(v.domain);
    // the QR carries the EIP-2098 compact signature: the last 64 bytes of the payload
    const compact = "0x" + v.payload.slice(-128);
    const fromCompact = ethers.Signature.from(compact);
    out.valid.push({
      name: v.name,
      digest: ethers.TypedDataEncoder.hash(domain, types, v.message),
      recovered: ethers.verifyTypedData(domain, types, v.message, v.signature),
      recoveredFromCompact: ethers.verifyTypedData(domain, types, v.message, fromCompact),
      compactSerialized: fromCompact.serialized,
      signed: await new ethers.Wallet(v.privateKey).signTypedData(domain, types, v.message),
    });
  }
  for (const v of invalid.verify) {
    out.verify.push({
      name: v.name,
      recovered: ethers.verifyTypedData(domainOf(v.domain), types, v.message, v.signature),
    });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
