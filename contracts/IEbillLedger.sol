// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IEbillLedger
 * @notice The shared record of medical e-invoice fingerprints and their reimbursement,
 * kept by a consortium of hospitals and payers who do not trust each other's databases.
 *
 * - Invoices are anchored in Merkle batches (OpenZeppelin StandardMerkleTree, leaf
 *   `(bytes32 fingerprint, uint256 totalFen)`): one storage write per batch.
 * - The issuing hospital can void (red-letter reversal) an anchored invoice.
 * - Invoice state (void, reserved, paid) is kept per (issuing hospital, fingerprint):
 *   fingerprints are public (QR codes), so a leaf another hospital anchored with
 *   someone else's fingerprint must not be able to void or over-pay the real invoice.
 * - Payers reserve, release and finalise reimbursements; the cumulative amount per
 *   invoice across every payer never exceeds the invoice total. The first reservation
 *   pins the total its leaf states in the invoice record; every later reservation must
 *   state the same total, so a hospital that anchors its own fingerprint again with a
 *   larger total cannot lift the cap of an invoice already being reimbursed.
 * - Amounts and totals are fen (1/100 yuan) in 80-bit counters: at most 2^80 - 1 fen
 *   (about 1.2e22 yuan), far beyond any invoice; a leaf stating more is capped there.
 */
interface IEbillLedger {
    enum MemberKind {
        None,
        Hospital,
        Payer
    }

    enum ClaimStatus {
        None,
        Reserved,
        Released,
        Finalized
    }

    /// @dev One storage slot. `hospital` is the registry index of the issuing hospital.
    struct Batch {
        uint32 hospital;
        uint32 leafCount;
        uint64 anchoredAt;
        uint64 blockNumber;
    }

    /// @dev One storage slot (3 x 80 bits + 8) per invoice that has ever been stamped or
    /// voided. `totalFen` is pinned by the first reservation (0: none yet; a reservation
    /// of at least 1 fen always pins a non-zero total) and never changes afterwards, even
    /// when every claim is released. Invariant: `reservedFen + paidFen <= totalFen`.
    struct InvoiceRecord {
        uint80 reservedFen;
        uint80 paidFen;
        uint80 totalFen;
        bool voided;
    }

    /// @dev Two storage slots; `hospital` is the issuer whose invoice record the claim touches.
    struct Claim {
        bytes32 fingerprint;
        uint80 amountFen;
        uint32 payer;
        uint32 hospital;
        ClaimStatus status;
        uint64 updatedAt;
    }

    /// @dev A batch root authorised off-chain by a hospital key (EIP-712 `AnchorBatch`).
    struct SignedBatch {
        bytes32 root;
        uint32 leafCount;
        bytes signature;
    }

    /// @dev A payer's request to reserve `amountFen` of an anchored invoice for a claim.
    /// `issuer` is the institution id from the invoice header the payer verified: the
    /// batch must have been anchored by that hospital.
    struct Reservation {
        bytes32 claimId;
        bytes32 issuer;
        bytes32 fingerprint;
        uint256 totalFen;
        uint256 amountFen;
        bytes32 batchRoot;
        bytes32[] proof;
    }

    // ---------------------------------------------------------------- errors

    /// @dev The hospital or payer id is already registered.
    error MemberAlreadyRegistered(bytes32 memberId);
    /// @dev No hospital (or payer) is registered under `memberId`.
    error UnknownMember(bytes32 memberId);
    /// @dev The zero id or the zero address was given.
    error InvalidMember();
    /// @dev An account is bound to one member for ever; it cannot be bound again.
    error AccountAlreadyBound(address account);
    /// @dev The account is not bound to any member.
    error AccountNotBound(address account);
    /// @dev The account's key was revoked already.
    error KeyAlreadyRevoked(address account);
    /// @dev A batch root must be non-zero and hold at least one leaf.
    error InvalidBatch(bytes32 root, uint32 leafCount);
    /// @dev The root is anchored already (possibly by this very hospital: re-sent batch).
    error BatchAlreadyAnchored(bytes32 root);
    /// @dev The EIP-712 batch signature is not from an active hospital key.
    error UnauthorizedBatchSigner(bytes32 root, address signer);
    /// @dev The batch root was never anchored.
    error BatchNotAnchored(bytes32 root);
    /// @dev `(fingerprint, totalFen)` is not a leaf of `root` with the given proof.
    error InvalidInclusionProof(bytes32 root, bytes32 fingerprint);
    /// @dev The batch was anchored by another hospital than the invoice's issuer.
    error IssuerMismatch(bytes32 batchRoot, bytes32 expectedIssuer, bytes32 batchIssuer);
    /// @dev Only the hospital that anchored the invoice's batch may void it.
    error NotIssuingHospital(bytes32 fingerprint, bytes32 issuer, bytes32 caller);
    /// @dev The invoice is voided already.
    error InvoiceAlreadyVoided(bytes32 fingerprint);
    /// @dev A voided invoice can never be reimbursed.
    error InvoiceIsVoided(bytes32 fingerprint);
    /// @dev Amounts must be positive and fit the ledger's 80-bit fen counters (at most 2^80 - 1).
    error InvalidAmount(uint256 amountFen);
    /// @dev The invoice's total was pinned by its first reservation; this leaf states another.
    /// `statedFen` is the leaf's total as given (a total beyond 2^80 - 1 is compared capped).
    error TotalMismatch(bytes32 fingerprint, uint256 pinnedFen, uint256 statedFen);
    /// @dev Reserved plus paid would exceed the invoice total; `availableFen` is what is left.
    error ReimbursementExceedsTotal(bytes32 fingerprint, uint256 requestedFen, uint256 availableFen);
    /// @dev This payer used the claim id already.
    error ClaimAlreadyExists(bytes32 payerId, bytes32 claimId);
    /// @dev This payer has no claim with that id.
    error UnknownClaim(bytes32 payerId, bytes32 claimId);
    /// @dev Release and finalise apply only to a reserved claim.
    error ClaimNotReserved(bytes32 payerId, bytes32 claimId, ClaimStatus status);

    // ---------------------------------------------------------------- events

    event MemberRegistered(bytes32 indexed memberId, MemberKind kind, uint32 index);
    event KeyAdded(bytes32 indexed memberId, address indexed account);
    event KeyRevoked(bytes32 indexed memberId, address indexed account, uint64 revokedAt);
    event BatchAnchored(bytes32 indexed root, bytes32 indexed institutionId, uint32 leafCount);
    event InvoiceVoided(
        bytes32 indexed fingerprint, bytes32 indexed institutionId, bytes32 batchRoot, bytes32 reason
    );
    /// @dev A voided invoice of hospital `institutionId` had money reserved or paid: the
    /// payers must claw it back.
    event ClawbackRequired(
        bytes32 indexed fingerprint, bytes32 indexed institutionId, uint256 paidFen, uint256 reservedFen
    );
    /// @dev The stamp events index (fingerprint, payer, claim); the issuing hospital
    /// `institutionId`, which with the fingerprint names the invoice record, is in the data
    /// (an event has at most three indexed fields).
    event ReimbursementReserved(
        bytes32 indexed fingerprint,
        bytes32 indexed payerId,
        bytes32 indexed claimId,
        bytes32 institutionId,
        uint256 amountFen
    );
    event ReimbursementReleased(
        bytes32 indexed fingerprint,
        bytes32 indexed payerId,
        bytes32 indexed claimId,
        bytes32 institutionId,
        uint256 amountFen
    );
    event ReimbursementFinalized(
        bytes32 indexed fingerprint,
        bytes32 indexed payerId,
        bytes32 indexed claimId,
        bytes32 institutionId,
        uint256 amountFen
    );
    /// @dev A batched stamp skipped one item; `reason` is the selector of the error a
    /// single call would have reverted with.
    event StampRefused(bytes32 indexed payerId, bytes32 indexed claimId, bytes4 reason);

    // ---------------------------------------------------------------- registry

    function registerHospital(bytes32 institutionId, address account) external;
    function registerPayer(bytes32 payerId, address account) external;
    function addKey(bytes32 memberId, address account) external;
    function revokeKey(address account) external;

    // ---------------------------------------------------------------- anchoring

    function anchorBatch(bytes32 root, uint32 leafCount) external;
    function anchorSignedBatches(SignedBatch[] calldata batches) external returns (uint256 anchored);
    function voidInvoice(
        bytes32 fingerprint,
        uint256 totalFen,
        bytes32 batchRoot,
        bytes32[] calldata proof,
        bytes32 reason
    ) external;

    // ---------------------------------------------------------------- reimbursement

    function reserve(Reservation calldata r) external;
    function reserveMany(Reservation[] calldata rs) external returns (uint256 reserved);
    function release(bytes32 claimId) external;
    function releaseMany(bytes32[] calldata claimIds) external returns (uint256 released);
    function finalize(bytes32 claimId) external;
    function finalizeMany(bytes32[] calldata claimIds) external returns (uint256 finalized);
}
