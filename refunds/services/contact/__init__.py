"""The no-login route: a holder who can no longer log in proves control of the email
address AND the phone number on record, and a claim status link for holders without a login.

How the contact proof works (SECURITY.md R01, R05, A06, A12, L02):

- The person types the email address and phone number they registered (plus name and
  birth date, kept only as supporting data for the reviewer: R05, they prove nothing).
  ``contact_proof_request`` does no account-dependent work on the request path: it queues
  ``contact_proof_send`` after commit, exactly as the wallet's password reset does, so the
  answer, its status and its timing are the same whether or not an account matched (A12).
- ``contact_proof_send`` (a Celery task) looks for an active customer with a verified
  email equal to the normalised address AND a verified phone equal to the normalised
  number. Only then does ``contact_proof_start`` create a ``ContactProof`` bound to the
  browser session (a keyed digest of its session key), mail a link to ``user.email`` and
  text a code to ``user.phone``: always the contact on record, never a typed value (R01).
- The link's token is an HMAC over the proof id and its creation time with SECRET_KEY,
  minted when the mail is rendered (``contact_link_build``); the outbox row holds only the
  proof id and the proof only the token's digest (L02). The SMS code is kept as a digest.
- Opening the link in the same browser proves the email; then the code, with at most
  ``CONTACT_CODE_ATTEMPTS_MAX`` tries, once, before ``expires_at`` (CONTACT_PROOF_LIFETIME),
  under a row lock so two parallel submits succeed once (A06), proves the phone.
- The complete proof lets the browser file one claim (route ``contact``, which the checks
  always send to staff review) or correct one returned claim; ``used_at`` is set in the same
  transaction as the claim, so a proof is used once.

Why no step-up page on this route (S04): the holder has no usable login, so there is no
second factor to ask for. What stands in for it is stronger for this purpose: the link to
the verified email on record and the code to the verified phone on record, both fresh,
single-use and bound to this browser, and a staff review of every contact-route claim.

The claim status link (``status_link_*``) follows the same rules: the claim number and the
registered email typed by the holder only select the claim; the link goes to the address on
record, is minted at render time (a signed, timestamped payload) and expires after
``STATUS_LINK_LIFETIME``; it shows a read-only page.
"""

from __future__ import annotations

from wallet.services.notifications import notification_link_builder_register

from .proof import (
    CONTACT_LINK_KIND,
    CodeOutcome,
    CodeResult,
    LinkOutcome,
    contact_claim_submit,
    contact_code_verify,
    contact_details_correct,
    contact_link_build,
    contact_link_open,
    contact_link_token,
    contact_proof_complete,
    contact_proof_current,
    contact_proof_request,
    contact_proof_send,
    contact_proof_send_task,
    contact_proof_start,
    contact_session_digest,
)
from .status_link import (
    STATUS_LINK_KIND,
    STATUS_LINK_LIFETIME,
    claim_number_normalise,
    status_link_build,
    status_link_claim,
    status_link_request,
    status_link_send,
    status_link_send_task,
)

__all__ = [
    "CONTACT_LINK_KIND",
    "STATUS_LINK_KIND",
    "STATUS_LINK_LIFETIME",
    "CodeOutcome",
    "CodeResult",
    "LinkOutcome",
    "claim_number_normalise",
    "contact_claim_submit",
    "contact_code_verify",
    "contact_details_correct",
    "contact_link_build",
    "contact_link_open",
    "contact_link_token",
    "contact_proof_complete",
    "contact_proof_current",
    "contact_proof_request",
    "contact_proof_send",
    "contact_proof_send_task",
    "contact_proof_start",
    "contact_session_digest",
    "register",
    "status_link_build",
    "status_link_claim",
    "status_link_request",
    "status_link_send",
    "status_link_send_task",
]


def register() -> None:
    """Hand the wallet's outbox the link builders of the contact-proof and status mails (called from RefundsConfig.ready)."""
    notification_link_builder_register(CONTACT_LINK_KIND, contact_link_build)
    notification_link_builder_register(STATUS_LINK_KIND, status_link_build)
