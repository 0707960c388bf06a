"""Masking sample values of personal information before they leave the warehouse.

>>> mask("500103199001011234")
'5001**********1234'
>>> mask("张三"), mask("欧阳娜娜"), mask("13800001111")
('张*', '欧***', '138*****111')
"""

from __future__ import annotations


def mask(value: object) -> str:
    """Keep the ends that identify the kind of value, hide the part that identifies a person."""
    text = "" if value is None else str(value)
    n = len(text)
    if n <= 1:
        return "*" * n
    if n <= 4:
        return text[0] + "*" * (n - 1)
    if n <= 7:
        return text[0] + "*" * (n - 2) + text[-1]
    keep = 4 if n >= 12 else 3
    return text[:keep] + "*" * (n - 2 * keep) + text[-keep:]
