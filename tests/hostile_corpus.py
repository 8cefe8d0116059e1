"""Hostile landing files and what ingestion must do with each.

Every case is one file dropped into landing/<source>/ next to a warehouse that already holds a clean
load. The outcome is one of two:

- `Loaded`: the file is loaded with exact accounting. `rows_in` is the number of data records in
  the file (records, not lines: a quoted value may span lines), `rows_loaded` of them reach
  raw.<source>, the rest are in quarantine.<source> with a reason (`quarantine_reason` is part of
  one of them), and `manifest_reason` is part of the manifest's reason when the file carries
  something ignored (extra columns). `verbatim` lists values that must be stored exactly as sent:
  formulas and SQL are data, never evaluated.
- `Rejected`: the whole file is refused and nothing of it is loaded; `reason` is part of the reason
  recorded in the manifest, in words a person can act on.

Small files are committed under tests/fixtures/hostile/<source>/<name>. Big or binary ones are
written by a builder at test time (`make`), never committed.
"""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from churnmesh.contracts import SOURCES_BY_NAME

FIXTURES = Path(__file__).parent / "fixtures" / "hostile"
FILE_DAY = "2024-01-09"  # after the clean load's last day, so the valid rows are not "in the future"

# One valid row per source, as text; builders and fixtures change single cells of it.
VALID_ROW = {
    "orders": {
        "order_id": "O900000000",
        "customer_id": "C0000001",
        "order_datetime": "2024-01-08 10:00:00",
        "order_type": "purchase",
        "original_order_id": "",
        "product_id": "P001",
        "product_category": "electronics",
        "quantity": "1",
        "unit_price_usd": "9.99",
        "device_type": "mobile",
        "order_channel": "app",
        "city": "London",
        "country": "GB",
        "loyalty_points_earned": "9",
    },
    "customers": {
        "customer_id": "C9000000",
        "first_name": "Ana",
        "last_name": "Silva",
        "email": "ana@example.org",
        "gender": "female",
        "date_of_birth": "1990-01-01",
        "signup_datetime": "2024-01-02 10:00:00",
        "city": "Lisbon",
        "country": "PT",
        "marketing_opt_in": "true",
        "updated_at": "2024-01-02 10:00:00",
    },
    "device_sessions": {
        "session_id": "E9000000000",
        "customer_id": "C0000001",
        "session_start_ts": "2024-01-08 08:00:00",
        "session_end_ts": "2024-01-08 08:20:00",
        "device_type": "mobile",
        "os_version": "iOS 17.2",
        "app_version": "1.2.3",
        "pages_viewed": "5",
        "events_fired": "20",
    },
    "support_tickets": {
        "ticket_id": "T90000000",
        "customer_id": "C0000001",
        "opened_datetime": "2024-01-08 09:00:00",
        "closed_datetime": "2024-01-08 11:00:00",
        "status": "closed",
        "channel": "email",
        "issue_type": "billing",
        "root_cause": "payment_failure",
        "product_id": "P001",
        "app_version": "1.2.3",
        "resolution_time_minutes": "120",
        "csat_score": "4",
    },
    "financial_profiles": {
        "customer_id": "C0000001",
        "profile_effective_date": "2024-01-08",
        "income_usd": "52000.00",
        "credit_score": "700",
    },
    "loyalty_balances": {
        "customer_id": "C0000001",
        "snapshot_date": "2024-01-08",
        "points_balance": "120",
        "loyalty_tier": "silver",
    },
    "subscriptions": {
        "subscription_id": "S90000000",
        "customer_id": "C0000001",
        "plan_id": "PL01",
        "plan_name": "Basic Monthly",
        "status": "active",
        "start_date": "2024-01-02",
        "end_date": "",
        "renewal_date": "2024-02-02",
        "is_auto_renew": "true",
    },
}


@dataclass(frozen=True)
class Loaded:
    rows_in: int
    rows_loaded: int
    quarantine_reason: str | None = None
    manifest_reason: str | None = None
    # (table, column, value): the value is in raw.<source> or quarantine.<source> exactly as sent.
    verbatim: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Rejected:
    reason: str


@dataclass(frozen=True)
class HostileCase:
    source: str
    name: str  # the file's name in landing/<source>/
    what: str
    expected: Loaded | Rejected
    make: Callable[[Path], None] | None = None  # writes the file; None: committed under FIXTURES

    @property
    def id(self) -> str:
        return f"{self.source}/{self.what}"

    def write_into(self, landing: Path) -> Path:
        path = landing / self.source / self.name
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.make is None:
            path.write_bytes((FIXTURES / self.source / self.name).read_bytes())
        else:
            self.make(path)
        return path


# Builders of the files that are generated, not committed.


def header(source: str) -> str:
    return ",".join(SOURCES_BY_NAME[source].column_names)


def row(source: str, **cells: str) -> str:
    values = {**VALID_ROW[source], **cells}
    return ",".join(values[name] for name in SOURCES_BY_NAME[source].column_names)


def order(n: int, **cells: str) -> str:
    return row("orders", order_id=f"O9{n:08d}", **cells)


def csv_bytes(source: str, rows: list[str], newline: str = "\n") -> bytes:
    return (newline.join([header(source), *rows]) + newline).encode("utf-8")


def binary_garbage(path: Path) -> None:
    # Seeded; 0x80 starts no UTF-8 text, byte-order mark or known file format.
    path.write_bytes(b"\x80" + random.Random(7).randbytes(64 * 1024))


def field_of_50_mb(path: Path) -> None:
    """A valid row, then a row whose city is 50 MB long (written in pieces, never held whole)."""
    before, after = order(1002, city="|").split("|")
    with open(path, "wb") as out:
        out.write(csv_bytes("orders", [order(1001)]) + before.encode())
        for _ in range(50):
            out.write(b"A" * 1_000_000)
        out.write(after.encode() + b"\n")


def wide_with_contract_columns(path: Path) -> None:
    extra = [f"extra_{i:05d}" for i in range(1, 9_987)]  # with the 14 of the contract: 10,000 columns
    blanks = "," * len(extra)
    lines = [",".join([header("orders"), *extra]), *(order(1100 + i) + blanks for i in range(3))]
    path.write_bytes(("\n".join(lines) + "\n").encode())


def wide_without_contract_columns(path: Path) -> None:
    names = ",".join(f"col_{i:05d}" for i in range(10_000))
    cells = ",".join("1" for _ in range(10_000))
    path.write_bytes(f"{names}\n{cells}\n{cells}\n".encode())


def nul_bytes(path: Path) -> None:
    """A NUL inside a name, then the zero-filled tail a crashed writer leaves behind."""
    rows = [row("customers", customer_id="C9001101", first_name="An\x00a"), row("customers", customer_id="C9001102")]
    path.write_bytes(csv_bytes("customers", rows) + b"\x00" * 4096)


def mixed_line_endings(path: Path) -> None:
    endings = ["\r\n", "\n", "\r", "\r\n", "\n"]
    lines = [header("orders"), *(order(1200 + i) for i in range(4))]
    path.write_bytes("".join(line + end for line, end in zip(lines, endings, strict=True)).encode())


def classic_mac_line_endings(path: Path) -> None:
    rows = [row("loyalty_balances", customer_id=f"C900120{i}") for i in range(1, 4)]
    path.write_bytes(csv_bytes("loyalty_balances", rows, newline="\r"))


def utf16_little_endian(path: Path) -> None:
    path.write_bytes(b"\xff\xfe" + csv_bytes("orders", [order(1301)]).decode().encode("utf-16-le"))


def utf16_without_bom(path: Path) -> None:
    path.write_bytes(csv_bytes("device_sessions", [row("device_sessions")]).decode().encode("utf-16-le"))


def utf16_big_endian(path: Path) -> None:
    text = csv_bytes("subscriptions", [row("subscriptions")]).decode()
    path.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))


def gzip_named_csv(path: Path) -> None:
    path.write_bytes(gzip.compress(csv_bytes("orders", [order(1401)]), mtime=0))


def zip_named_csv(path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("2024-01-09.csv", csv_bytes("financial_profiles", [row("financial_profiles")]))
    path.write_bytes(buffer.getvalue())


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def text_columns(source: str, rows: int, **overrides: pa.Array) -> dict[str, pa.Array]:
    columns = {name: pa.array([value or None] * rows, pa.string()) for name, value in VALID_ROW[source].items()}
    return {**columns, **overrides}


def parquet_named_csv(path: Path) -> None:
    path.write_bytes(parquet_bytes(pa.table(text_columns("customers", 1))))


def parquet_with_wrong_types(path: Path) -> None:
    """Numbers stored as floats and strings: a float that is a whole number reads as that
    integer; 1.5, NaN and 'abc' are quarantined like the same text in a CSV."""
    columns = text_columns(
        "orders",
        3,
        order_id=pa.array(["O900001501", "O900001502", "O900001503"]),
        quantity=pa.array([1.0, 1.5, float("nan")]),
        unit_price_usd=pa.array(["9.99", "NaN", "abc"]),
        loyalty_points_earned=pa.array([9, 9, 9], pa.int32()),
    )
    path.write_bytes(parquet_bytes(pa.table(columns)))


def many_orders_parquet() -> bytes:
    columns = text_columns("orders", 2_000, order_id=pa.array([f"O9{n:08d}" for n in range(2_000)]))
    return parquet_bytes(pa.table(columns))


def truncated_parquet(path: Path) -> None:
    data = many_orders_parquet()
    path.write_bytes(data[: len(data) // 2])


def damaged_parquet_page(path: Path) -> None:
    """Footer intact, first page header overwritten: the file opens, its data does not decode."""
    data = bytearray(many_orders_parquet())
    data[4:404] = b"\xab" * 400
    path.write_bytes(bytes(data))


def parquet_with_nested_column(path: Path) -> None:
    columns = text_columns("support_tickets", 1, csat_score=pa.array([[4, 5]]))
    path.write_bytes(parquet_bytes(pa.table(columns)))


def parquet_with_binary_column(path: Path) -> None:
    columns = text_columns("device_sessions", 1, os_version=pa.array([b"\xff\xfeiOS"], pa.binary()))
    path.write_bytes(parquet_bytes(pa.table(columns)))


def very_long_line(path: Path) -> None:
    """A valid row, a 2 MB line of a million fields, a valid row."""
    path.write_bytes(csv_bytes("orders", [order(1601), ",".join(["x"] * 1_000_000), order(1602)]))


def million_empty_lines(path: Path) -> None:
    with open(path, "wb") as out:
        out.write(csv_bytes("orders", [order(1701)]))
        out.write(b"\n" * 1_000_000)
        out.write(order(1702).encode() + b"\n")


def valid_orders(path: Path) -> None:
    path.write_bytes(csv_bytes("orders", [order(1801)]))


def double_bom(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + b"\xef\xbb\xbf" + csv_bytes("customers", [row("customers")]))


def quote_open_for_megabytes(path: Path) -> None:
    """A quote opened on line 3 swallows the next 20,000 rows until the value limit stops it."""
    rows = [order(1901), order(1902, city='"London'), *(order(2000 + i) for i in range(20_000))]
    path.write_bytes(csv_bytes("orders", rows))


def zero_filled(path: Path) -> None:
    """Pre-allocated and never written: what a crash mid-copy can leave."""
    path.write_bytes(b"\x00" * 65_536)


NOT_A_FINITE_NUMBER = "is not a finite number"
NOT_AN_INTEGER = "is not an integer"
NOT_A_DATE = "is not a valid date (YYYY-MM-DD)"
NOT_A_TIMESTAMP = "is not a valid timestamp (ISO 8601)"
WRONG_FORMAT = "does not match the required format"
NO_DATE_IN_NAME = "does not start with a valid date (YYYY-MM-DD)"
SQL_IN_ORDER_ID = "'; DROP TABLE raw.orders; --"


CASES: tuple[HostileCase, ...] = (
    # Binary and encodings
    HostileCase(
        "orders", f"{FILE_DAY}-binary-garbage.csv", "binary garbage", Rejected("not valid UTF-8 text"), binary_garbage
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-utf16.csv",
        "UTF-16 with BOM",
        Rejected("UTF-16 text (little-endian"),
        utf16_little_endian,
    ),
    HostileCase(
        "subscriptions",
        f"{FILE_DAY}-utf16-be.csv",
        "UTF-16 big-endian with BOM",
        Rejected("UTF-16 text (big-endian"),
        utf16_big_endian,
    ),
    HostileCase(
        "device_sessions",
        f"{FILE_DAY}-utf16-no-bom.csv",
        "UTF-16 without BOM",
        Rejected("NUL (0x00) bytes in the header: UTF-16 text without a byte-order mark"),
        utf16_without_bom,
    ),
    HostileCase(
        "customers",
        f"{FILE_DAY}-double-bom.csv",
        "two UTF-8 BOMs",
        Rejected("missing required column(s): customer_id; the header has instead: '\\ufeffcustomer_id'"),
        double_bom,
    ),
    HostileCase("orders", f"{FILE_DAY}-gzip.csv", "gzip named .csv", Rejected("gzip-compressed data"), gzip_named_csv),
    HostileCase(
        "financial_profiles", f"{FILE_DAY}-zip.csv", "zip named .csv", Rejected("a ZIP archive"), zip_named_csv
    ),
    HostileCase(
        "customers",
        f"{FILE_DAY}-parquet-bytes.csv",
        "Parquet named .csv",
        Rejected("Parquet data in a file named .csv"),
        parquet_named_csv,
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-zero-filled.csv",
        "only NUL bytes",
        Rejected("NUL (0x00) bytes in the header"),
        zero_filled,
    ),
    HostileCase(
        "customers",
        f"{FILE_DAY}-nul-bytes.csv",
        "NUL in a name and a zero-filled tail",
        Loaded(3, 1, "first_name: 'An\\x00a' contains a NUL (0x00) character"),
        nul_bytes,
    ),
    # Size
    HostileCase(
        "orders",
        f"{FILE_DAY}-50mb-field.csv",
        "a 50 MB single field",
        Rejected("a value longer than 1,000,000 characters in the record starting on line 3"),
        field_of_50_mb,
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-10000-columns.csv",
        "10,000 columns, the contract's among them",
        Loaded(3, 3, manifest_reason="extra column(s) ignored: extra_00001, extra_00002"),
        wide_with_contract_columns,
    ),
    HostileCase(
        "device_sessions",
        f"{FILE_DAY}-10000-unknown-columns.csv",
        "10,000 columns, none of the contract's",
        Rejected("missing required column(s): session_id, customer_id"),
        wide_without_contract_columns,
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-very-long-line.csv",
        "a 2 MB line of a million fields",
        Loaded(3, 2, "row has 1000000 fields, header has 14"),
        very_long_line,
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-million-empty-lines.csv",
        "1,000,000 empty lines between two rows",
        Loaded(2, 2),
        million_empty_lines,
    ),
    # Line structure and quoting
    HostileCase(
        "orders", f"{FILE_DAY}-mixed-line-endings.csv", "CRLF, LF and CR in one file", Loaded(4, 4), mixed_line_endings
    ),
    HostileCase(
        "loyalty_balances",
        f"{FILE_DAY}-classic-mac-endings.csv",
        "CR-only line endings",
        Loaded(3, 3),
        classic_mac_line_endings,
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-unclosed-quote.csv",
        "a quote that never closes",
        Rejected("a quote opened in the record starting on line 3 never closes"),
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-quote-open-for-megabytes.csv",
        "a quote open across 2 MB of rows",
        Rejected("a value longer than 1,000,000 characters in the record starting on line 3"),
        quote_open_for_megabytes,
    ),
    HostileCase(
        "customers",
        f"{FILE_DAY}-quoted-newlines.csv",
        "quoted values spanning lines",
        Loaded(2, 2, verbatim=(("raw", "city", "New\nYork"), ("raw", "last_name", "O'Neil,\nJr."))),
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-trailing-delimiter-on-rows.csv",
        "trailing delimiter on the rows only",
        Loaded(2, 0, "row has 15 fields, header has 14"),
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-trailing-delimiters.csv",
        "trailing delimiter on header and rows",
        Loaded(2, 2, manifest_reason="extra column(s) ignored: (unnamed column 15)"),
    ),
    HostileCase("orders", f"{FILE_DAY}-header-only.csv", "header only", Loaded(0, 0)),
    HostileCase(
        "device_sessions",
        f"{FILE_DAY}-header-only-no-newline.csv",
        "header only, no line terminator",
        Loaded(0, 0),
    ),
    HostileCase(
        "support_tickets", f"{FILE_DAY}-blank-lines-only.csv", "only blank lines", Rejected("empty file (no header)")
    ),
    HostileCase(
        "support_tickets",
        f"{FILE_DAY}-whitespace-lines-only.csv",
        "only whitespace lines",
        Rejected("the header line is blank"),
    ),
    # Headers
    HostileCase(
        "support_tickets",
        f"{FILE_DAY}-duplicate-column-names.csv",
        "a column name twice",
        Rejected("duplicate column name(s) in header: ticket_id"),
    ),
    HostileCase(
        "customers",
        f"{FILE_DAY}-empty-column-name.csv",
        "an empty column name",
        Loaded(2, 2, manifest_reason="extra column(s) ignored: (unnamed column 2)"),
    ),
    HostileCase(
        "device_sessions",
        f"{FILE_DAY}-sql-in-column-names.csv",
        "SQL in column names",
        Loaded(2, 2, manifest_reason='extra column(s) ignored: x"; DROP TABLE raw.device_sessions; --'),
    ),
    # File names
    HostileCase("orders", "latest.csv", "file name without a date", Rejected(NO_DATE_IN_NAME)),
    HostileCase("orders", "2024-02-30.csv", "file name with an impossible date", Rejected(NO_DATE_IN_NAME)),
    HostileCase("orders", "9999-99-99-export.csv", "file name dated 9999-99-99", Rejected(NO_DATE_IN_NAME)),
    HostileCase("orders", f"{FILE_DAY}{SQL_IN_ORDER_ID}.csv", "SQL in the file name", Loaded(1, 1), make=valid_orders),
    HostileCase(
        "orders",
        f"{FILE_DAY}-Malm\udcf6.csv",  # the Latin-1 byte 0xf6, as Python names an undecodable byte
        "file name not valid UTF-8",
        Rejected("the file name is not valid UTF-8"),
        make=valid_orders,
    ),
    # Numbers
    HostileCase(
        "orders",
        f"{FILE_DAY}-non-finite-amounts.csv",
        "1e309, -1e309, NaN, inf, Infinity as prices",
        Loaded(10, 2, NOT_A_FINITE_NUMBER),
    ),
    HostileCase(
        "financial_profiles",
        f"{FILE_DAY}-non-finite-income.csv",
        "NaN, inf, 1e309 as income",
        Loaded(7, 2, NOT_A_FINITE_NUMBER),
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-number-formats.csv",
        "padded, grouped, hex, huge and decimal integers",
        Loaded(7, 1, NOT_AN_INTEGER),
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-lookalike-digits.csv",
        "Arabic-Indic and full-width digits",
        Loaded(7, 1, NOT_AN_INTEGER, verbatim=(("quarantine", "quantity", "\u0661"),)),
    ),
    HostileCase(
        "financial_profiles",
        f"{FILE_DAY}-full-width-digits.csv",
        "full-width digits in a score and a date",
        Loaded(4, 1, NOT_A_DATE),
    ),
    HostileCase(
        "loyalty_balances",
        f"{FILE_DAY}-arabic-indic-digits.csv",
        "Arabic-Indic digits in points and a date",
        Loaded(5, 1, NOT_AN_INTEGER),
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-wrong-types.parquet",
        "Parquet with floats and strings for numbers",
        Loaded(3, 1, NOT_AN_INTEGER),
        parquet_with_wrong_types,
    ),
    # Dates and times
    HostileCase(
        "customers",
        f"{FILE_DAY}-impossible-dates.csv",
        "0000-00-00, 2024-02-30, 9999-99-99, 24:61",
        Loaded(8, 1, NOT_A_DATE),
    ),
    HostileCase(
        "device_sessions",
        f"{FILE_DAY}-impossible-times.csv",
        "24:61, 25:00, 08:60 and impossible days",
        Loaded(7, 1, NOT_A_TIMESTAMP),
    ),
    HostileCase(
        "subscriptions",
        f"{FILE_DAY}-impossible-dates.csv",
        "impossible and non-ISO dates",
        Loaded(6, 1, NOT_A_DATE),
    ),
    HostileCase(
        "customers",
        f"{FILE_DAY}-lookalike-digits.csv",
        "Arabic-Indic and full-width digits in dates and IDs",
        Loaded(4, 1, NOT_A_TIMESTAMP),
    ),
    # SQL and formulas: data, stored as sent
    HostileCase(
        "orders",
        f"{FILE_DAY}-sql-in-ids.csv",
        "SQL in IDs",
        Loaded(
            4,
            1,
            WRONG_FORMAT,
            verbatim=(
                ("quarantine", "order_id", SQL_IN_ORDER_ID),
                ("quarantine", "customer_id", 'C0000001" OR 1=1'),
                ("raw", "city", "London'); DROP TABLE raw.orders; --"),
            ),
        ),
    ),
    HostileCase(
        "customers",
        f"{FILE_DAY}-sql-in-text.csv",
        "SQL in names and e-mail",
        Loaded(
            4,
            2,
            WRONG_FORMAT,
            verbatim=(
                ("raw", "first_name", "Robert'); DROP TABLE raw.customers;--"),
                ("raw", "city", 'Lisbon"; UPDATE raw.customers SET email = NULL; --'),
                ("quarantine", "customer_id", "C0000001' OR '1'='1"),
            ),
        ),
    ),
    HostileCase("support_tickets", f"{FILE_DAY}-sql-in-ids.csv", "SQL in ticket IDs", Loaded(3, 1, WRONG_FORMAT)),
    HostileCase(
        "loyalty_balances", f"{FILE_DAY}-sql-in-values.csv", "SQL in a key and a tier", Loaded(3, 1, WRONG_FORMAT)
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-formula-cells.csv",
        "cells starting with =, +, -, @",
        Loaded(
            6,
            4,
            NOT_AN_INTEGER,
            verbatim=(
                ("raw", "city", '=HYPERLINK("http://example.com/x","click")'),
                ("raw", "city", "+SUM(1,2)"),
                ("raw", "city", "-2+3"),
                ("raw", "city", "@SUM(A1:A2)"),
            ),
        ),
    ),
    HostileCase(
        "customers",
        f"{FILE_DAY}-formula-injection.csv",
        "formulas in names",
        Loaded(
            5,
            4,
            WRONG_FORMAT,
            verbatim=(
                ("raw", "first_name", "=cmd|' /C calc'!A0"),
                ("raw", "first_name", "\t=1+1"),
                ("raw", "city", "@SUM(1+1)"),
            ),
        ),
    ),
    HostileCase(
        "device_sessions",
        f"{FILE_DAY}-formula-os-version.csv",
        "formulas in a free-text column",
        Loaded(5, 4, WRONG_FORMAT, verbatim=(("raw", "os_version", "=1+1"), ("raw", "os_version", "-Android"))),
    ),
    HostileCase(
        "support_tickets",
        f"{FILE_DAY}-formula-cells.csv",
        "formulas where only codes are allowed",
        Loaded(5, 1, WRONG_FORMAT),
    ),
    HostileCase(
        "subscriptions",
        f"{FILE_DAY}-formula-plan-names.csv",
        "formulas in plan names",
        Loaded(5, 4, "is not true or false", verbatim=(("raw", "plan_name", "=1+2"),)),
    ),
    # Parquet
    HostileCase(
        "orders",
        f"{FILE_DAY}-truncated.parquet",
        "truncated Parquet",
        Rejected("not a readable Parquet file"),
        truncated_parquet,
    ),
    HostileCase(
        "orders",
        f"{FILE_DAY}-damaged-page.parquet",
        "Parquet with a damaged data page",
        Rejected("unreadable Parquet data after row 0"),
        damaged_parquet_page,
    ),
    HostileCase(
        "support_tickets",
        f"{FILE_DAY}-nested-column.parquet",
        "Parquet with a list column",
        Rejected("nested values instead of one value per row: csat_score"),
        parquet_with_nested_column,
    ),
    HostileCase(
        "device_sessions",
        f"{FILE_DAY}-binary-column.parquet",
        "Parquet with non-UTF-8 bytes",
        Rejected("column 'os_version' cannot be read as text"),
        parquet_with_binary_column,
    ),
)
