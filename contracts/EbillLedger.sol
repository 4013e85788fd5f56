// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IEbillLedger} from "./IEbillLedger.sol";

/**
 * @title EbillLedger
 * @notice Registry, batch anchoring, voids and reimbursement stamps for medical e-invoices.
 * @dev Roles: `DEFAULT_ADMIN_ROLE` is the consortium governance: in production an
 * OpenZeppelin `TimelockController` whose proposers and executors are the consortium's
 * accounts (`ebill chain deploy`), so every change of roles waits out its delay in public.
 * It grants and revokes `REGISTRAR_ROLE`, held by the bureau's relayer: the day-to-day
 * registry (members and their keys). `HOSPITAL_ROLE` and `PAYER_ROLE` are held by the
 * active keys of registered members; they can only be granted through the registry
 * functions, which bind each key to an institution or payer id (their role admin is a
 * role no account can ever hold).
 */
contract EbillLedger is IEbillLedger, AccessControl, EIP712 {
    bytes32 public constant HOSPITAL_ROLE = keccak256("HOSPITAL_ROLE");
    bytes32 public constant PAYER_ROLE = keccak256("PAYER_ROLE");
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @dev Administers the member roles; self-administered and never granted.
    bytes32 private constant REGISTRY_ONLY = keccak256("REGISTRY_ONLY");
    bytes32 public constant ANCHOR_BATCH_TYPEHASH = keccak256("AnchorBatch(bytes32 root,uint32 leafCount)");
    /// @dev The largest amount or total the 80-bit fen counters hold: 2^80 - 1 fen, about
    /// 1.2e22 yuan. Amounts above it are refused; totals above it are capped to it.
    uint256 private constant MAX_FEN = type(uint80).max;

    struct Member {
        bytes32 id;
        MemberKind kind;
    }

    struct AccountKey {
        uint32 member;
        uint64 addedAt;
        uint64 revokedAt;
    }

    Member[] private _members;
    mapping(bytes32 hospitalId => uint32) private _hospitalIndex;
    mapping(bytes32 payerId => uint32) private _payerIndex;
    mapping(address account => AccountKey) private _keys;
    mapping(bytes32 root => Batch) private _batches;
    /// @dev keyed by keccak256(abi.encode(hospitalIndex, fingerprint)): see IEbillLedger
    mapping(bytes32 invoiceKey => InvoiceRecord) private _invoices;
    /// @dev keyed by keccak256(abi.encode(payerIndex, claimId)): claim ids are per payer
    mapping(bytes32 claimKey => Claim) private _claims;

    /**
     * @param admin holds `DEFAULT_ADMIN_ROLE` (the consortium's timelock in production)
     * @param registrar holds `REGISTRAR_ROLE` (the relayer; its admin is `DEFAULT_ADMIN_ROLE`)
     * Requirements: neither is the zero address.
     */
    constructor(address admin, address registrar) EIP712("EbillLedger", "1") {
        if (admin == address(0) || registrar == address(0)) revert InvalidMember();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, registrar);
        _setRoleAdmin(REGISTRY_ONLY, REGISTRY_ONLY);
        _setRoleAdmin(HOSPITAL_ROLE, REGISTRY_ONLY);
        _setRoleAdmin(PAYER_ROLE, REGISTRY_ONLY);
        _members.push(Member(bytes32(0), MemberKind.None)); // index 0 means "none"
    }

    // =================================================================== registry

    /**
     * @notice Registers a hospital under its institution id, with its first signing key.
     * Requirements:
     * - caller has `REGISTRAR_ROLE`;
     * - `institutionId` and `account` are non-zero; the id is new; the account was never bound.
     * Emits {MemberRegistered} and {KeyAdded}.
     */
    function registerHospital(bytes32 institutionId, address account) external onlyRole(REGISTRAR_ROLE) {
        _register(institutionId, MemberKind.Hospital, account);
    }

    /**
     * @notice Registers a payer (insurance agency, medical assistance, commercial insurer).
     * Requirements: as {registerHospital}. Emits {MemberRegistered} and {KeyAdded}.
     */
    function registerPayer(bytes32 payerId, address account) external onlyRole(REGISTRAR_ROLE) {
        _register(payerId, MemberKind.Payer, account);
    }

    /**
     * @notice Binds another key to a registered hospital or payer (key rotation).
     * Requirements: caller has `REGISTRAR_ROLE`; `memberId` is registered (a
     * hospital id is looked up first); `account` was never bound. Emits {KeyAdded}.
     */
    function addKey(bytes32 memberId, address account) external onlyRole(REGISTRAR_ROLE) {
        uint32 index = _hospitalIndex[memberId];
        if (index == 0) index = _payerIndex[memberId];
        if (index == 0) revert UnknownMember(memberId);
        _bindKey(index, account);
    }

    /**
     * @notice Revokes a key from now on; what it signed or did before stays valid.
     * Requirements: caller has `REGISTRAR_ROLE`; the account is bound and not yet
     * revoked. Emits {KeyRevoked}.
     */
    function revokeKey(address account) external onlyRole(REGISTRAR_ROLE) {
        AccountKey storage key = _keys[account];
        if (key.member == 0) revert AccountNotBound(account);
        if (key.revokedAt != 0) revert KeyAlreadyRevoked(account);
        key.revokedAt = uint64(block.timestamp);
        Member storage m = _members[key.member];
        _revokeRole(m.kind == MemberKind.Hospital ? HOSPITAL_ROLE : PAYER_ROLE, account);
        emit KeyRevoked(m.id, account, key.revokedAt);
    }

    function _register(bytes32 id, MemberKind kind, address account) private {
        if (id == bytes32(0) || account == address(0)) revert InvalidMember();
        if (_hospitalIndex[id] != 0 || _payerIndex[id] != 0) revert MemberAlreadyRegistered(id);
        uint32 index = uint32(_members.length);
        _members.push(Member(id, kind));
        if (kind == MemberKind.Hospital) _hospitalIndex[id] = index;
        else _payerIndex[id] = index;
        emit MemberRegistered(id, kind, index);
        _bindKey(index, account);
    }

    function _bindKey(uint32 index, address account) private {
        if (account == address(0)) revert InvalidMember();
        if (_keys[account].member != 0) revert AccountAlreadyBound(account);
        _keys[account] = AccountKey(index, uint64(block.timestamp), 0);
        Member storage m = _members[index];
        _grantRole(m.kind == MemberKind.Hospital ? HOSPITAL_ROLE : PAYER_ROLE, account);
        emit KeyAdded(m.id, account);
    }

    // =================================================================== anchoring

    /**
     * @notice Anchors a batch root signed for by the calling hospital key.
     * Requirements: caller has `HOSPITAL_ROLE`; `root` non-zero; `leafCount > 0`; the
     * root is not anchored yet. Emits {BatchAnchored}.
     */
    function anchorBatch(bytes32 root, uint32 leafCount) external onlyRole(HOSPITAL_ROLE) {
        if (_batches[root].hospital != 0) revert BatchAlreadyAnchored(root);
        _anchor(root, leafCount, _keys[msg.sender].member);
    }

    /**
     * @notice Anchors many hospitals' batch roots in one transaction (relayed anchoring):
     * each item carries its hospital's EIP-712 `AnchorBatch(root, leafCount)` signature.
     * Any account may relay; the signatures are the authority. Idempotent: a root that
     * its own hospital anchored already is skipped, so re-sending a batch after a crash
     * cannot anchor it twice.
     * Requirements: every signature recovers to an active hospital key; each root is
     * non-zero with `leafCount > 0` and not anchored by another hospital.
     * Emits {BatchAnchored} for each newly anchored root.
     * @return anchored the number of roots newly anchored
     */
    function anchorSignedBatches(SignedBatch[] calldata batches) external returns (uint256 anchored) {
        for (uint256 i = 0; i < batches.length; ++i) {
            SignedBatch calldata b = batches[i];
            bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(ANCHOR_BATCH_TYPEHASH, b.root, b.leafCount)));
            (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, b.signature);
            if (err != ECDSA.RecoverError.NoError || !hasRole(HOSPITAL_ROLE, signer)) {
                revert UnauthorizedBatchSigner(b.root, signer);
            }
            uint32 hospital = _keys[signer].member;
            uint32 existing = _batches[b.root].hospital;
            if (existing == hospital) continue; // already anchored by this hospital
            if (existing != 0) revert BatchAlreadyAnchored(b.root);
            _anchor(b.root, b.leafCount, hospital);
            ++anchored;
        }
    }

    function _anchor(bytes32 root, uint32 leafCount, uint32 hospital) private {
        if (root == bytes32(0) || leafCount == 0) revert InvalidBatch(root, leafCount);
        _batches[root] = Batch(hospital, leafCount, uint64(block.timestamp), uint64(block.number));
        emit BatchAnchored(root, _members[hospital].id, leafCount);
    }

    /**
     * @notice Voids (red-letter reversal) an anchored invoice. A voided invoice can never
     * be reimbursed; if money was already reserved or paid, payers are told to claw back.
     * Requirements: caller has `HOSPITAL_ROLE` and belongs to the hospital that anchored
     * `batchRoot`; `(fingerprint, totalFen)` is a leaf of it by `proof`; not voided yet.
     * `totalFen` is neither checked against nor pinned in the invoice record: see below.
     * Emits {InvoiceVoided}, and {ClawbackRequired} when anything was reserved or paid.
     */
    function voidInvoice(
        bytes32 fingerprint,
        uint256 totalFen,
        bytes32 batchRoot,
        bytes32[] calldata proof,
        bytes32 reason
    ) external onlyRole(HOSPITAL_ROLE) {
        Batch memory batch = _requireIncluded(fingerprint, totalFen, batchRoot, proof);
        uint32 caller = _keys[msg.sender].member;
        if (batch.hospital != caller) {
            revert NotIssuingHospital(fingerprint, _members[batch.hospital].id, _members[caller].id);
        }
        // The leaf only proves that the caller anchored this fingerprint; its total plays no
        // part. A void can only take money out of reach, and for good, so a total pinned by
        // it could never be used, and refusing a void whose leaf states another total than
        // the pinned one would let a hospital's re-anchoring slip block a red-letter reversal.
        InvoiceRecord storage rec = _invoices[_invoiceKey(caller, fingerprint)];
        if (rec.voided) revert InvoiceAlreadyVoided(fingerprint);
        rec.voided = true;
        bytes32 institutionId = _members[caller].id;
        emit InvoiceVoided(fingerprint, institutionId, batchRoot, reason);
        if (rec.paidFen != 0 || rec.reservedFen != 0) {
            emit ClawbackRequired(fingerprint, institutionId, rec.paidFen, rec.reservedFen);
        }
    }

    function _requireIncluded(
        bytes32 fingerprint,
        uint256 totalFen,
        bytes32 batchRoot,
        bytes32[] calldata proof
    ) private view returns (Batch memory batch) {
        batch = _batches[batchRoot];
        if (batch.hospital == 0) revert BatchNotAnchored(batchRoot);
        if (!MerkleProof.verifyCalldata(proof, batchRoot, _leaf(fingerprint, totalFen))) {
            revert InvalidInclusionProof(batchRoot, fingerprint);
        }
    }

    function _leaf(bytes32 fingerprint, uint256 totalFen) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(fingerprint, totalFen))));
    }

    // =================================================================== reimbursement

    /**
     * @notice Reserves `amountFen` of an anchored invoice for a claim of the calling payer.
     * The first reservation of an invoice pins `totalFen` in its record.
     * Requirements, checked in this order: caller has `PAYER_ROLE`; the claim id is new
     * for this payer; the batch is anchored, by the hospital `r.issuer`, and the proof
     * includes `(fingerprint, totalFen)`; the invoice is not voided; `totalFen` equals the
     * pinned total, if any; `0 < amountFen <= 2^80 - 1`; reserved plus paid plus
     * `amountFen` stays within the total across all payers.
     * Emits {ReimbursementReserved}.
     */
    function reserve(Reservation calldata r) external onlyRole(PAYER_ROLE) {
        _reserve(r, _keys[msg.sender].member, true);
    }

    /**
     * @notice Batched {reserve}: items that a single call would revert on are skipped
     * with a {StampRefused} event carrying the error selector, so one contested invoice
     * does not sink a batch. Requirements: caller has `PAYER_ROLE`.
     * Emits {ReimbursementReserved} or {StampRefused} per item.
     * @return reserved the number of items reserved
     */
    function reserveMany(Reservation[] calldata rs) external onlyRole(PAYER_ROLE) returns (uint256 reserved) {
        uint32 payer = _keys[msg.sender].member;
        for (uint256 i = 0; i < rs.length; ++i) {
            if (_reserve(rs[i], payer, false)) ++reserved;
        }
    }

    /**
     * @notice Releases a reserved claim (rejected by the payer): its amount is free again.
     * Requirements: caller has `PAYER_ROLE` of the payer that reserved it; the claim is
     * reserved. Emits {ReimbursementReleased}.
     */
    function release(bytes32 claimId) external onlyRole(PAYER_ROLE) {
        _settle(claimId, _keys[msg.sender].member, false, true);
    }

    /// @notice Batched {release}; skipped items emit {StampRefused}. Returns how many were released.
    function releaseMany(bytes32[] calldata claimIds) external onlyRole(PAYER_ROLE) returns (uint256 released) {
        uint32 payer = _keys[msg.sender].member;
        for (uint256 i = 0; i < claimIds.length; ++i) {
            if (_settle(claimIds[i], payer, false, false)) ++released;
        }
    }

    /**
     * @notice Finalises a reserved claim as paid.
     * Requirements: caller has `PAYER_ROLE` of the payer that reserved it; the claim is
     * reserved; the invoice was not voided meanwhile (release it instead).
     * Emits {ReimbursementFinalized}.
     */
    function finalize(bytes32 claimId) external onlyRole(PAYER_ROLE) {
        _settle(claimId, _keys[msg.sender].member, true, true);
    }

    /// @notice Batched {finalize}; skipped items emit {StampRefused}. Returns how many were finalised.
    function finalizeMany(bytes32[] calldata claimIds) external onlyRole(PAYER_ROLE) returns (uint256 finalized) {
        uint32 payer = _keys[msg.sender].member;
        for (uint256 i = 0; i < claimIds.length; ++i) {
            if (_settle(claimIds[i], payer, true, false)) ++finalized;
        }
    }

    function _reserve(Reservation calldata r, uint32 payer, bool strict) private returns (bool) {
        bytes32 payerId = _members[payer].id;
        bytes32 key = _claimKey(payer, r.claimId);
        if (_claims[key].status != ClaimStatus.None) {
            if (strict) revert ClaimAlreadyExists(payerId, r.claimId);
            return _refuse(payerId, r.claimId, ClaimAlreadyExists.selector);
        }
        uint32 hospital = _batches[r.batchRoot].hospital;
        if (hospital == 0) {
            if (strict) revert BatchNotAnchored(r.batchRoot);
            return _refuse(payerId, r.claimId, BatchNotAnchored.selector);
        }
        if (_members[hospital].id != r.issuer) {
            if (strict) revert IssuerMismatch(r.batchRoot, r.issuer, _members[hospital].id);
            return _refuse(payerId, r.claimId, IssuerMismatch.selector);
        }
        if (!MerkleProof.verifyCalldata(r.proof, r.batchRoot, _leaf(r.fingerprint, r.totalFen))) {
            if (strict) revert InvalidInclusionProof(r.batchRoot, r.fingerprint);
            return _refuse(payerId, r.claimId, InvalidInclusionProof.selector);
        }
        if (!_takeFromInvoice(_invoiceKey(hospital, r.fingerprint), r, payerId, strict)) return false;
        _claims[key] = Claim(
            r.fingerprint, uint80(r.amountFen), payer, hospital, ClaimStatus.Reserved, uint64(block.timestamp)
        );
        emit ReimbursementReserved(r.fingerprint, payerId, r.claimId, r.issuer, r.amountFen);
        return true;
    }

    /// @dev The invoice-record half of {_reserve}, once the leaf is proven: refuses, or adds
    /// `r.amountFen` to the reserved amount and pins the total.
    function _takeFromInvoice(bytes32 invoiceKey, Reservation calldata r, bytes32 payerId, bool strict)
        private
        returns (bool)
    {
        InvoiceRecord memory rec = _invoices[invoiceKey]; // one slot: read once, written once
        if (rec.voided) {
            if (strict) revert InvoiceIsVoided(r.fingerprint);
            return _refuse(payerId, r.claimId, InvoiceIsVoided.selector);
        }
        // A leaf may state any uint256 total; capping it at the 80-bit counters keeps
        // reserved + paid within them, so no later reserve or finalize can overflow.
        uint256 total = r.totalFen < MAX_FEN ? r.totalFen : MAX_FEN;
        // The issuer may anchor its own fingerprint again, in another batch, with a larger
        // total; only the total of the first reservation counts (released claims keep it).
        if (rec.totalFen != 0 && rec.totalFen != total) {
            if (strict) revert TotalMismatch(r.fingerprint, rec.totalFen, r.totalFen);
            return _refuse(payerId, r.claimId, TotalMismatch.selector);
        }
        if (r.amountFen == 0 || r.amountFen > MAX_FEN) {
            if (strict) revert InvalidAmount(r.amountFen);
            return _refuse(payerId, r.claimId, InvalidAmount.selector);
        }
        uint256 committed = uint256(rec.reservedFen) + rec.paidFen;
        uint256 available = total > committed ? total - committed : 0;
        if (r.amountFen > available) {
            if (strict) revert ReimbursementExceedsTotal(r.fingerprint, r.amountFen, available);
            return _refuse(payerId, r.claimId, ReimbursementExceedsTotal.selector);
        }
        // committed + amountFen <= total <= MAX_FEN: the casts cannot truncate
        rec.reservedFen += uint80(r.amountFen);
        rec.totalFen = uint80(total);
        _invoices[invoiceKey] = rec;
        return true;
    }

    function _settle(bytes32 claimId, uint32 payer, bool pay, bool strict) private returns (bool) {
        bytes32 payerId = _members[payer].id;
        Claim storage c = _claims[_claimKey(payer, claimId)];
        if (c.status == ClaimStatus.None) {
            if (strict) revert UnknownClaim(payerId, claimId);
            return _refuse(payerId, claimId, UnknownClaim.selector);
        }
        if (c.status != ClaimStatus.Reserved) {
            if (strict) revert ClaimNotReserved(payerId, claimId, c.status);
            return _refuse(payerId, claimId, ClaimNotReserved.selector);
        }
        InvoiceRecord storage rec = _invoices[_invoiceKey(c.hospital, c.fingerprint)];
        if (pay && rec.voided) {
            if (strict) revert InvoiceIsVoided(c.fingerprint);
            return _refuse(payerId, claimId, InvoiceIsVoided.selector);
        }
        rec.reservedFen -= c.amountFen;
        c.updatedAt = uint64(block.timestamp);
        bytes32 issuer = _members[c.hospital].id;
        if (pay) {
            rec.paidFen += c.amountFen;
            c.status = ClaimStatus.Finalized;
            emit ReimbursementFinalized(c.fingerprint, payerId, claimId, issuer, c.amountFen);
        } else {
            c.status = ClaimStatus.Released;
            emit ReimbursementReleased(c.fingerprint, payerId, claimId, issuer, c.amountFen);
        }
        return true;
    }

    function _refuse(bytes32 payerId, bytes32 claimId, bytes4 reason) private returns (bool) {
        emit StampRefused(payerId, claimId, reason);
        return false;
    }

    function _invoiceKey(uint32 hospital, bytes32 fingerprint) private pure returns (bytes32) {
        return keccak256(abi.encode(hospital, fingerprint));
    }

    function _claimKey(uint32 payer, bytes32 claimId) private pure returns (bytes32) {
        return keccak256(abi.encode(payer, claimId));
    }

    // =================================================================== views

    /// @notice The batch anchored under `root` (all zero if none).
    function batchOf(bytes32 root) external view returns (Batch memory) {
        return _batches[root];
    }

    /// @notice Many batches and their issuers' ids at once (zero entries for unknown roots).
    function batchesOf(bytes32[] calldata roots)
        external
        view
        returns (Batch[] memory batches, bytes32[] memory issuers)
    {
        batches = new Batch[](roots.length);
        issuers = new bytes32[](roots.length);
        for (uint256 i = 0; i < roots.length; ++i) {
            batches[i] = _batches[roots[i]];
            issuers[i] = _members[batches[i].hospital].id;
        }
    }

    /// @notice Institution id of the hospital that anchored `root` (zero if none).
    function batchIssuer(bytes32 root) external view returns (bytes32) {
        return _members[_batches[root].hospital].id;
    }

    /// @notice Reserved and paid amounts, pinned total (0 until the first reservation) and
    /// void state of an invoice of hospital `institutionId`.
    function invoiceRecord(bytes32 institutionId, bytes32 fingerprint) external view returns (InvoiceRecord memory) {
        uint32 hospital = _hospitalIndex[institutionId];
        if (hospital == 0) revert UnknownMember(institutionId);
        return _invoices[_invoiceKey(hospital, fingerprint)];
    }

    /// @notice A payer's claim by id (status `None` if unknown).
    function claimOf(bytes32 payerId, bytes32 claimId) external view returns (Claim memory) {
        uint32 payer = _payerIndex[payerId];
        if (payer == 0) revert UnknownMember(payerId);
        return _claims[_claimKey(payer, claimId)];
    }

    /// @notice True if `root` is anchored and `(fingerprint, totalFen)` is its leaf by `proof`.
    function isAnchored(bytes32 fingerprint, uint256 totalFen, bytes32 root, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return _batches[root].hospital != 0 && MerkleProof.verifyCalldata(proof, root, _leaf(fingerprint, totalFen));
    }

    /// @notice The member an account belongs to, its kind, and when its key was added / revoked.
    function accountInfo(address account)
        external
        view
        returns (bytes32 memberId, MemberKind kind, uint64 addedAt, uint64 revokedAt)
    {
        AccountKey memory key = _keys[account];
        Member memory m = _members[key.member];
        return (m.id, m.kind, key.addedAt, key.revokedAt);
    }

    /// @notice Number of registered members (hospitals and payers).
    function memberCount() external view returns (uint256) {
        return _members.length - 1;
    }

    /// @notice EIP-712 digest a hospital key signs to authorise anchoring `root`.
    function anchorBatchDigest(bytes32 root, uint32 leafCount) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ANCHOR_BATCH_TYPEHASH, root, leafCount)));
    }
}
