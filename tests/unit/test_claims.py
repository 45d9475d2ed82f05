from __future__ import annotations

import pytest

from cloud.claims import ClaimCodeError, generate_claim_code, hash_claim_code, normalise_claim_code


def test_codes_are_readable_unique_and_hash_the_same_however_typed() -> None:
    codes = {generate_claim_code() for _ in range(500)}
    assert len(codes) == 500
    code = next(iter(codes))
    assert len(code) == 11
    assert code[5] == "-"
    typed = f"  {code.lower().replace('-', ' ')} "
    assert hash_claim_code(typed) == hash_claim_code(code)
    assert normalise_claim_code("abcde-fghio") == "ABCDEFGH10"


@pytest.mark.parametrize("code", ["", "ABCDE", "ABCDE-12345-X", "ABCDE-1234!"])
def test_malformed_codes_are_refused(code: str) -> None:
    with pytest.raises(ClaimCodeError, match="claim code"):
        hash_claim_code(code)
