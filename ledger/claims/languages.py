"""The languages a person is written to in: the citizen's messages (:mod:`ledger.claims.notices`). Pure.

A person's preferred language is known where the person says it: the payer's enrolment
(``language`` in ``POST /v1/persons`` and ``ebill person enrol``) or the citizen's own
choice (``PUT /v1/me/language``). Unknown, it is Chinese, the language agencies write in.
"""

from __future__ import annotations

from enum import StrEnum

from ledger.errors import InvalidInput


class Language(StrEnum):
    """A language messages are written in (the strings are the API's and the database's)."""

    ZH = "zh"
    EN = "en"


#: the language of a person who never said which they prefer
DEFAULT_LANGUAGE = Language.ZH


def parse_language(text: str, *, field: str = "language") -> Language:
    """``text`` as a :class:`Language`; :class:`InvalidInput` naming ``field`` for anything else."""
    try:
        return Language(text)
    except ValueError:
        raise InvalidInput.single(field, "enum", f"expected one of {', '.join(lang.value for lang in Language)}, "
                                                 f"got {text!r}") from None


def language_of(recorded: str | None) -> Language:
    """The language to write to a person in, from what their record holds (None: never said)."""
    if recorded is None:
        return DEFAULT_LANGUAGE
    try:
        return Language(recorded)
    except ValueError:   # a value a newer release wrote: the default rather than no message
        return DEFAULT_LANGUAGE
