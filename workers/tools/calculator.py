"""Exact arithmetic by parsing, never `eval`: + - * / // % ** (or ^) and parentheses over exact rationals.

The expression is parsed into a syntax tree by Python's parser (`ast.parse`, which only parses:
nothing is compiled or run), and the tree is walked here, accepting numbers, the arithmetic
operators and parentheses and nothing else: a name, a call or an attribute is refused before
anything is computed. Numbers are `fractions.Fraction`s, so 0.1 + 0.2 is exactly 3/10; a literal's
value is taken from its text, not from the float Python would make of it. Limits keep one request
from taking the machine: the expression's length and size, and the size of every intermediate result
(checked before a power is computed, from the sizes of its operands).
"""

from __future__ import annotations

import ast
import re
from decimal import Context
from fractions import Fraction

MAX_LENGTH = 1_000  # characters of an expression
MAX_NODES = 500  # numbers and operators in it
MAX_DIGITS = 1_000  # of a result's numerator or denominator
MAX_BITS = int(MAX_DIGITS * 3.3219280948873626) + 1  # log2(10) bits per digit
MAX_ROOT = 64  # largest root a fractional exponent may take (x ** (1/64))
SIGNIFICANT = 30  # digits of the approximate decimal of a result that has no finite one
_SPELLINGS = {"^": "**", "×": "*", "·": "*", "÷": "/", "−": "-", "\n": " ", "\t": " "}
_EXPONENT = re.compile(r"[eE]([+-]?\d+)$")
WHAT_IT_TAKES = "the calculator takes numbers, + - * / // % ** (or ^) and parentheses"


class CalculatorError(ValueError):
    """The expression cannot be computed exactly; the message says why, for the person who wrote it."""


def calculate(expression: str) -> Fraction:
    """The exact value of `expression`; CalculatorError for bad syntax, anything but arithmetic, division by
    zero, an irrational power, or a result past the limits."""
    text = _normal(expression)
    tree = _parse(text)
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculatorError(f"the expression is too long: at most {MAX_NODES} numbers and operators")
    return _value(tree.body, text)


def answer(expression: str) -> dict[str, object]:
    """What the calculator tool returns: the exact result, as a decimal when it has a finite one, else as a
    fraction with an approximate decimal beside it."""
    value = calculate(expression)
    exact = _finite_decimal(value)
    return {
        "expression": expression,
        "result": exact if exact is not None else f"{value.numerator}/{value.denominator}",
        "fraction": f"{value.numerator}/{value.denominator}",
        "decimal": exact if exact is not None else _approximate(value),
        "exact": exact is not None,
    }


def _normal(expression: str) -> str:
    if not isinstance(expression, str) or not expression.strip():
        raise CalculatorError(f"give an expression to compute, e.g. 2 + 2; {WHAT_IT_TAKES}")
    if len(expression) > MAX_LENGTH:
        raise CalculatorError(f"the expression is too long: at most {MAX_LENGTH} characters")
    for spelling, operator in _SPELLINGS.items():
        expression = expression.replace(spelling, operator)
    return expression.strip()


def _parse(text: str) -> ast.Expression:
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError as e:
        where = f" at column {e.offset}" if e.offset else ""
        raise CalculatorError(f"bad syntax{where}: {e.msg}; {WHAT_IT_TAKES}") from None
    except (ValueError, RecursionError, MemoryError) as e:  # NUL bytes, nesting too deep for the parser
        raise CalculatorError(f"cannot read the expression: {e or type(e).__name__}; {WHAT_IT_TAKES}") from None


def _value(node: ast.expr, text: str) -> Fraction:
    match node:
        case ast.Constant(value=bool()) | ast.Constant(value=complex()):
            pass
        case ast.Constant(value=int() as number):
            return _checked(Fraction(number))
        case ast.Constant(value=float()):
            return _checked(_literal(ast.get_source_segment(text, node) or ""))
        case ast.UnaryOp(op=ast.UAdd(), operand=operand):
            return _value(operand, text)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_value(operand, text)
        case ast.BinOp(left=left, op=op, right=right):
            return _checked(_binary(op, _value(left, text), _value(right, text)))
    segment = ast.get_source_segment(text, node) or type(node).__name__
    raise CalculatorError(f"{segment!r} is not arithmetic: {WHAT_IT_TAKES}")


def _literal(spelled: str) -> Fraction:
    """A decimal literal's exact value from its text (0.1 is 1/10, not the float nearest to it)."""
    spelled = spelled.replace("_", "")
    exponent = _EXPONENT.search(spelled)
    if exponent and abs(int(exponent.group(1))) > MAX_DIGITS:
        raise CalculatorError(f"{spelled} is too large: results have at most {MAX_DIGITS} digits")
    return Fraction(spelled)


def _binary(op: ast.operator, left: Fraction, right: Fraction) -> Fraction:
    try:
        match op:
            case ast.Add():
                return left + right
            case ast.Sub():
                return left - right
            case ast.Mult():
                return left * right
            case ast.Div():
                return left / right
            case ast.FloorDiv():
                return Fraction(left // right)
            case ast.Mod():
                return left % right
            case ast.Pow():
                return _power(left, right)
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    raise CalculatorError(f"{type(op).__name__} is not arithmetic: {WHAT_IT_TAKES}")


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    """base ** exponent, exactly: a whole exponent whose result fits the limits, or a root that comes out even."""
    if base == 0 and exponent < 0:
        raise ZeroDivisionError
    if base in (0, 1) or exponent == 0:
        return Fraction(1) if exponent == 0 else base
    if base == -1 and exponent.denominator == 1:
        return Fraction(-1 if exponent.numerator % 2 else 1)
    whole = abs(exponent.numerator)
    if _bits(base) * whole / exponent.denominator > MAX_BITS:
        raise CalculatorError(f"the result is too large: results have at most {MAX_DIGITS} digits")
    if exponent.denominator > 1:
        base = _root(base, exponent.denominator)
    value = base**whole
    return 1 / value if exponent < 0 else value


def _root(value: Fraction, degree: int) -> Fraction:
    """The exact `degree`-th root of value; CalculatorError when it is not rational."""
    name = {2: "square root", 3: "cube root"}.get(degree, f"root of degree {degree}")
    irrational = CalculatorError(f"the {name} of {value} is not a rational number: no exact answer")
    if degree > MAX_ROOT or (value < 0 and degree % 2 == 0):
        raise irrational
    sign = -1 if value < 0 else 1
    top, bottom = _integer_root(abs(value.numerator), degree), _integer_root(value.denominator, degree)
    if top**degree != abs(value.numerator) or bottom**degree != value.denominator:
        raise irrational
    return Fraction(sign * top, bottom)


def _integer_root(n: int, degree: int) -> int:
    """The largest r with r ** degree <= n (Newton's method on integers)."""
    if n < 2:
        return n
    r = 1 << ((n.bit_length() + degree - 1) // degree)  # above the root
    while True:
        smaller = ((degree - 1) * r + n // r ** (degree - 1)) // degree
        if smaller >= r:
            return r
        r = smaller


def _bits(value: Fraction) -> int:
    return max(value.numerator.bit_length(), value.denominator.bit_length())


def _checked(value: Fraction) -> Fraction:
    if _bits(value) > MAX_BITS:
        raise CalculatorError(f"the result is too large: results have at most {MAX_DIGITS} digits")
    return value


def _finite_decimal(value: Fraction) -> str | None:
    """The value's exact decimal, if it has a finite one (its denominator has no prime factor but 2 and 5)."""
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    if denominator != 1:
        return None
    places = max(twos, fives)
    scaled = abs(value.numerator) * 10**places // value.denominator
    digits = str(scaled).rjust(places + 1, "0")
    whole, fraction = (digits[:-places], digits[-places:]) if places else (digits, "")
    return ("-" if value < 0 else "") + whole + ("." + fraction if fraction else "")


def _approximate(value: Fraction) -> str:
    """The value to SIGNIFICANT digits, rounded half to even, in plain or scientific notation."""
    context = Context(prec=SIGNIFICANT)
    return str(context.divide(context.create_decimal(value.numerator), context.create_decimal(value.denominator)))
