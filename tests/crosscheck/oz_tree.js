// Cross-check helper for tests/crosscheck/test_oz_merkle_tree.py: builds trees with
// the real @openzeppelin/merkle-tree so our Python implementation can be compared.
//
// stdin:  {"sets": [{"encoding": ["bytes32", "uint256"], "values": [["0x..", "123"], ...]}, ...]}
// stdout: [{"root": "0x..", "dump": {...}, "proofs": [[...], ...]}, ...]   (one per set)
//
// uint256 values must be given as decimal strings (JS numbers are refused by the library).
"use strict";
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { sets } = JSON.parse(input);
  const out = sets.map(({ encoding, values }) => {
    const tree = StandardMerkleTree.of(values, encoding);
    return {
      root: tree.root,
      dump: tree.dump(),
      proofs: values.map((_, i) => tree.getProof(i)),
    };
  });
  process.stdout.write(JSON.stringify(out));
});
