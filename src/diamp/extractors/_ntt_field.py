"""The prime field of the exact NTT engine (constants only; no numba, see ``_ntt_kernels``)."""

from __future__ import annotations

__all__ = ["GENERATOR", "P_INV", "R_MOD_P", "P"]

P = 3 * 2**30 + 1
"""The prime modulus: 3·2^30 + 1 (2-adicity 30, so transforms up to length 2^30)."""
GENERATOR = 5
"""A primitive root modulo P (P − 1 = 3·2^30; 5^((P−1)/2) ≠ 1 and 5^((P−1)/3) ≠ 1)."""
P_INV = pow(P, -1, 2**32)
"""P^{-1} mod 2^32 (Montgomery)."""
R_MOD_P = 2**32 % P
"""R = 2^32 reduced mod P: the Montgomery form of 1."""
