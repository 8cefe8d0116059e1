"""No SQL text is built from a value: values reach DuckDB as bound parameters, names only quoted.

Static: every call under churnmesh/ that hands SQL to DuckDB or SQLMesh with text built in Python
(an f-string, `%`, `.format`, `.join` or `+`) may interpolate only literals, the package's own
constants, a quoting helper's result, an entry of ALLOWED, or a local built from those alone.
Behavioural: a valid customer id, dates, a hostile segment value and row limits, sent through
the real query functions against a small hand-made DuckDB file, all arrive as bound parameters
and none appears in any SQL text.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from churnmesh import answers, parameters, query

PACKAGE = Path(__file__).resolve().parents[1] / "churnmesh"
# The calls that hand SQL on, and where the SQL is among their arguments.
SQL_ARGUMENT = {"execute": 0, "executemany": 0, "sql": 0, "query": 0, "fetchdf": 0, "fetchone": 0, "fetchall": 0}
SQL_ARGUMENT |= {"bind": 1, "frame": 1, "_column": 1}  # the package's wrappers: (connection, sql, ...)
# Results that are safe whatever their argument: a double-quoted name.
QUOTING = {"quoted", "quoted_name", "table_name"}
# Results that are numbers whatever their argument.
NUMBERS = {"len", "int", "float"}
# Text or a date as an SQL literal: only where DuckDB binds no parameter (ATTACH, COMMENT ON), or
# in text no execute() receives (SQLMesh's fetchdf binds nothing; a query shown to a person).
LITERAL = {"literal", "date_literal"}
UNBINDABLE = ("ATTACH", "COMMENT")
# Methods whose result is text only as safe as the text they are called on.
STR_METHODS = {"removeprefix", "removesuffix", "strip", "lower", "upper", "items", "keys", "values"}
# Calls (`name()`, any arguments) and, per file, expressions that interpolate the package's own text.
ALLOWED = {
    "raw_table()": "raw.<source> of a contract's source name (contracts.SOURCES)",
    "quarantine_table()": "quarantine.<source>, as raw_table",
    "raw_columns_ddl()": "each contract column quoted, with its type from DUCKDB_TYPES",
    "_rounded()": "a KPI expression of answers.KPIS, rounded to its unit's DECIMALS",
    "_month_end_query()": "MONTH_END_SQL with a quoted segment column and the KPIS' month-end expressions",
    "snapshot_kpis_sql()": "the snapshot KPIS' expressions over answers.CUSTOMERS",
    "_compared()": "late_changes: a quoted column, rounded when it is floating-point",
    "churned_within()": "answers' churned-in-the-last-N-days predicate, N a literal whole number",
    "churnmesh/answers.py: k.month_end": "a KPI's month-end expression of answers.KPIS",
    "churnmesh/privacy/export.py: membership": "_IN_SEGMENT or the list predicate: the module's own text",
    "churnmesh/orchestration/quality_alerts.py: source": "a contract's source name, in a hint shown to a person",
    "churnmesh/query.py: table": "mart_table()'s quoted name (its schema confirmed by the catalog) or CUSTOMER_360",
    "churnmesh/answers.py: where": "a WHERE clause answers writes: _segment's (quoted dimension, value as ?), _span's",
    "churnmesh/orchestration/late_changes.py: model.query": "SQLMesh's rendering of the project's own model",
    "churnmesh/orchestration/operations.py: table": "SQLMesh's physical table name (context.table_name)",
}


@dataclass
class Module:
    rel: str
    tree: ast.Module
    constants: dict[str, ast.expr] = field(default_factory=dict)  # module-level name -> value
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, attribute)
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)


def load(path: Path, root: Path) -> Module:
    rel = path.relative_to(root.parent).as_posix()
    module = Module(rel, ast.parse(path.read_text(), rel))
    for node in module.tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            module.constants[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            module.constants[node.target.id] = node.value
        elif isinstance(node, ast.ImportFrom) and node.module:
            module.imports |= {a.asname or a.name: (node.module, a.name) for a in node.names}
    module.parents = {child: parent for parent in ast.walk(module.tree) for child in ast.iter_child_nodes(parent)}
    return module


def dotted(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@dataclass
class Context:
    module: Module
    function: ast.AST | None
    scope: dict[str, ast.expr]  # comprehension and loop variables -> what they iterate over
    literal_ok: bool


class Scanner:
    """Finds what a built SQL text interpolates that is neither the package's own text nor quoted."""

    def __init__(self, modules: dict[str, Module]) -> None:
        self.modules = modules
        self.used: set[str] = set()
        self.seen: set[tuple[str, int, str]] = set()

    def findings(self) -> list[str]:
        """`file:line: expression` per interpolation, `<- file:line: expression` for what it is built from."""
        found = []
        for module in self.modules.values():
            for node in ast.walk(module.tree):
                found += self.sql_call(module, node) if isinstance(node, ast.Call) else []
                found += self.sql_text(module, node)
        return list(dict.fromkeys(found))

    def sql_text(self, module: Module, node: ast.AST) -> list[str]:
        """Text that reads as SQL, built wherever it is built: it may reach DuckDB through any callable."""
        if isinstance(node, ast.JoinedStr) and _reads_as_sql(node, module):
            parts = _interpolated(node)
        elif _callee(node) == "format" and _reads_as_sql(node.func.value, module):
            parts = [*node.args, *(k.value for k in node.keywords)]
        else:
            return []
        ctx = Context(module, _enclosing(module, node), _comprehension_scope(module, node), True)
        self.seen = set()
        found = []
        for part in parts:
            here = f"{module.rel}:{part.lineno}: {ast.unparse(part)}"
            found += [
                here if bad is part else f"{here} <- {m.rel}:{getattr(bad, 'lineno', '?')}: {ast.unparse(bad)}"
                for m, bad in self.unsafe(part, ctx)
            ]
        return found

    def sql_call(self, module: Module, call: ast.Call) -> list[str]:
        index = SQL_ARGUMENT.get(_callee(call), -1)
        if not 0 <= index < len(call.args):
            return []
        sql = call.args[index]
        ctx = Context(module, _enclosing(module, call), {}, _leading(sql).startswith(UNBINDABLE))
        if not self.built(sql, ctx):
            return []
        self.seen = set()
        found = []
        for part in _interpolated(sql):
            here = f"{module.rel}:{part.lineno}: {ast.unparse(part)}"
            found += [
                here if bad is part else f"{here} <- {m.rel}:{getattr(bad, 'lineno', '?')}: {ast.unparse(bad)}"
                for m, bad in self.unsafe(part, ctx)
            ]
        return found

    def built(self, node: ast.expr, ctx: Context) -> bool:
        if isinstance(node, ast.Name):
            return any(self.built(v, ctx) for v in _bindings(ctx, node.id))
        if isinstance(node, ast.JoinedStr):
            return any(isinstance(v, ast.FormattedValue) for v in node.values)
        return isinstance(node, ast.BinOp) or _callee(node) in ("format", "join")

    def unsafe(self, node: ast.AST, ctx: Context) -> list[tuple[Module, ast.AST]]:
        if isinstance(node, ast.Constant):
            return []
        if isinstance(node, ast.FormattedValue | ast.Starred):
            return self.unsafe(node.value, ctx)
        if isinstance(node, ast.JoinedStr | ast.List | ast.Tuple | ast.Set | ast.BinOp | ast.IfExp | ast.Dict):
            parts = _parts(node)
            return [bad for part in parts for bad in self.unsafe(part, ctx)]
        if isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp):
            scope = ctx.scope | {n: g.iter for g in node.generators for n in _names(g.target)}
            return self.unsafe(node.elt, Context(ctx.module, ctx.function, scope, ctx.literal_ok))
        if isinstance(node, ast.Subscript):  # a lookup in a table of the package's own text
            return [] if not self.unsafe(node.value, ctx) else [(ctx.module, node)]
        if isinstance(node, ast.Call):
            return self.call(node, ctx)
        if isinstance(node, ast.Name | ast.Attribute):
            return self.name(node, ctx)
        return [(ctx.module, node)]

    def call(self, node: ast.Call, ctx: Context) -> list[tuple[Module, ast.AST]]:
        callee = _callee(node)
        if callee in QUOTING | NUMBERS or (callee in LITERAL and ctx.literal_ok) or self.allowed(f"{callee}()"):
            return []
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        if receiver is not None and callee in ("join", "format", *STR_METHODS):
            parts = [receiver, *node.args, *(k.value for k in node.keywords)]
            return [bad for part in parts for bad in self.unsafe(part, ctx)]
        return [(ctx.module, node)]

    def name(self, node: ast.Name | ast.Attribute, ctx: Context) -> list[tuple[Module, ast.AST]]:
        if self.allowed(f"{ctx.module.rel}: {ast.unparse(node)}"):
            return []
        if isinstance(node, ast.Attribute):
            target = self.module_constant(ctx.module, node)
            return self.constant(target) if target else [(ctx.module, node)]
        if node.id in ctx.scope:
            return self.unsafe(ctx.scope[node.id], ctx)
        key = (ctx.module.rel, id(ctx.function), node.id)
        if key in self.seen:  # sql = sql + "...", or a name used twice: checked once
            return []
        self.seen.add(key)
        bound = _bindings(ctx, node.id)
        if bound or _is_parameter(ctx.function, node.id):
            return [bad for value in bound for bad in self.unsafe(value, ctx)] if bound else [(ctx.module, node)]
        target = self.module_name(ctx.module, node.id)
        return self.constant(target) if target else [(ctx.module, node)]

    def constant(self, target: tuple[Module, ast.expr]) -> list[tuple[Module, ast.AST]]:
        module, value = target
        return self.unsafe(value, Context(module, None, {}, False))

    def module_name(self, module: Module, name: str) -> tuple[Module, ast.expr] | None:
        if name in module.constants:
            return module, module.constants[name]
        source, attribute = module.imports.get(name, ("", ""))
        other = self.modules.get(source)
        return (other, other.constants[attribute]) if other and attribute in other.constants else None

    def module_constant(self, module: Module, node: ast.Attribute) -> tuple[Module, ast.expr] | None:
        """`watermark.DELIVERED_SQL`: a constant of a package module imported by name."""
        if not isinstance(node.value, ast.Name) or node.value.id not in module.imports:
            return None
        other = self.modules.get(".".join(module.imports[node.value.id]))
        return (other, other.constants[node.attr]) if other and node.attr in other.constants else None

    def allowed(self, key: str) -> bool:
        if key in ALLOWED:
            self.used.add(key)
        return key in ALLOWED


def _callee(node: ast.AST) -> str:
    if not isinstance(node, ast.Call):
        return ""
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")


SQL_WORDS = re.compile(r"\b(SELECT|FROM|WHERE|INSERT INTO|UPDATE|DELETE FROM|CREATE|DROP|ATTACH)\b")


def _reads_as_sql(node: ast.AST, module: Module) -> bool:
    """A template whose own text holds an SQL keyword in capitals (a module constant, by name)."""
    if isinstance(node, ast.Name) and node.id in module.constants:
        node = module.constants[node.id]
    texts = [v.value for v in getattr(node, "values", [node]) if isinstance(v, ast.Constant)]
    return any(isinstance(t, str) and SQL_WORDS.search(t) for t in texts)


def _interpolated(sql: ast.expr) -> list[ast.expr]:
    """The expressions written into the SQL text: f-string fields, operands of + and %, the text itself."""
    if isinstance(sql, ast.JoinedStr):
        return [v.value for v in sql.values if isinstance(v, ast.FormattedValue)]
    if isinstance(sql, ast.BinOp):
        return [e for side in (sql.left, sql.right) if not isinstance(side, ast.Constant) for e in _interpolated(side)]
    return [sql]


def _leading(sql: ast.expr) -> str:
    first = sql.values[0] if isinstance(sql, ast.JoinedStr) and sql.values else sql
    return first.value.lstrip().upper() if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


def _parts(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.JoinedStr):
        return [v for v in node.values if isinstance(v, ast.FormattedValue)]
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.IfExp):
        return [node.body, node.orelse]
    if isinstance(node, ast.Dict):
        return [v for v in node.values if v is not None]
    return list(node.elts) if isinstance(node, ast.List | ast.Tuple | ast.Set) else []


def _names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _comprehension_scope(module: Module, node: ast.AST) -> dict[str, ast.expr]:
    """The variables of the comprehensions `node` sits in -> what they iterate over."""
    scope: dict[str, ast.expr] = {}
    while node in module.parents:
        node = module.parents[node]
        if isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp | ast.DictComp):
            scope = {n: g.iter for g in node.generators for n in _names(g.target)} | scope
    return scope


def _enclosing(module: Module, node: ast.AST) -> ast.AST | None:
    while node in module.parents:
        node = module.parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return node
    return None


def _is_parameter(function: ast.AST | None, name: str) -> bool:
    arguments = getattr(function, "args", None)
    return arguments is not None and name in {a.arg for a in ast.walk(arguments) if isinstance(a, ast.arg)}


def _bindings(ctx: Context, name: str) -> list[ast.expr]:
    """What the enclosing function assigns to `name` (or appends to it, or loops it over)."""
    if ctx.function is None:
        return []
    found: list[ast.expr] = []
    for node in ast.walk(ctx.function):
        if isinstance(node, ast.Assign):
            found += [v for t in node.targets for v in _assigned(t, node.value, name)]
        elif isinstance(node, ast.AugAssign | ast.AnnAssign) and _names(node.target) == [name] and node.value:
            found.append(node.value)
        elif isinstance(node, ast.For) and name in _names(node.target):
            found.append(node.iter)
        elif isinstance(node, ast.Call) and _appends_to(node, name):
            found += node.args
    return found


def _appends_to(call: ast.Call, name: str) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr in ("append", "extend") and ast.unparse(func.value) == name


def _assigned(target: ast.expr, value: ast.expr, name: str) -> list[ast.expr]:
    if isinstance(target, ast.Name):
        return [value] if target.id == name else []
    if isinstance(target, ast.Tuple) and name in _names(target):
        if isinstance(value, ast.Tuple) and len(value.elts) == len(target.elts):
            return [v for t, v in zip(target.elts, value.elts, strict=True) for v in _assigned(t, v, name)]
        return [value]  # unpacked from a call: the call must be safe
    return []


def scan(root: Path = PACKAGE) -> tuple[list[str], Scanner]:
    modules = {dotted(p, root): load(p, root) for p in sorted(root.rglob("*.py"))}
    scanner = Scanner(modules)
    return scanner.findings(), scanner


def test_no_sql_text_interpolates_a_value() -> None:
    findings, scanner = scan()
    assert findings == [], "SQL built from something not quoted or the package's own:\n" + "\n".join(findings)
    unused = sorted(set(ALLOWED) - scanner.used)
    assert unused == [], f"allowlist entries no longer needed: {unused}"


def test_the_scan_finds_a_value_in_sql(tmp_path: Path) -> None:
    """The scan itself: a customer id in an f-string fails, bound or quoted it passes."""
    package = tmp_path / "churnmesh"
    package.mkdir()
    (package / "lookup.py").write_text(
        "def found(con, customer_id, schema):\n"
        "    con.execute(f\"SELECT * FROM {quoted(schema, 't')} WHERE customer_id = ?\", [customer_id])\n"
        "    con.execute(f\"SELECT * FROM t WHERE customer_id = '{customer_id}'\")\n"
        '    where = "WHERE customer_id = \'" + customer_id + "\'"\n'
        '    return con.execute(f"SELECT * FROM t {where}")\n'
    )
    findings, _ = scan(package)
    assert findings == [
        "churnmesh/lookup.py:3: customer_id",
        "churnmesh/lookup.py:5: where <- churnmesh/lookup.py:4: customer_id",
    ]


def test_the_scan_finds_a_value_in_sql_text_handed_on_by_any_callable(tmp_path: Path) -> None:
    """SQL text built for a callable the scan does not know (SQLMesh's fetchdf through `fetch`): a
    date or table name formatted in fails; as a checked name and a DATE literal it passes."""
    package = tmp_path / "churnmesh"
    package.mkdir()
    (package / "reads.py").write_text(
        "ORDERS = \"SELECT * FROM {table} WHERE order_date <= DATE '{end}'\"\n"
        "def orders(fetch, table, end):\n"
        "    return fetch(ORDERS.format(table=table, end=end.isoformat()))\n"
        "def checked(fetch, table, end):\n"
        "    return fetch(ORDERS.format(table=table_name(table), end=date_literal(end)))\n"
        "def scores(fetch, table, days):\n"
        '    return fetch(" UNION ALL ".join(f"SELECT {d} FROM {table_name(table)}" for d in days))\n'
    )
    findings, _ = scan(package)
    assert findings == [
        "churnmesh/reads.py:3: table",
        "churnmesh/reads.py:3: end.isoformat()",
        "churnmesh/reads.py:7: d <- churnmesh/reads.py:7: days",
    ]


@pytest.mark.parametrize(
    "name",
    ['"warehouse"."sqlmesh__core"."core__fct_orders__1234"', "core.fct_orders", "orders", '"a ""b"""."c"'],
)
def test_a_table_name_passes_unchanged(name: str) -> None:
    assert query.table_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["orders; DROP TABLE raw.orders", "orders WHERE 1=1", "(SELECT 1)", "a.b.c.d", '"unclosed', "orders--", ""],
)
def test_anything_but_a_table_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a table name"):
        query.table_name(name)


def test_literals_escape_quotes_and_a_date_literal_takes_only_a_date() -> None:
    con = duckdb.connect()
    hostile = "it's'; DROP TABLE x; --"
    assert con.execute(f"SELECT {query.literal(hostile)}").fetchone() == (hostile,)
    assert con.execute(f"SELECT {query.date_literal(AS_OF)}").fetchone() == (AS_OF,)
    with pytest.raises(TypeError, match="needs a date, not str"):
        query.date_literal("2025-12-30' OR '1'='1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not datetime"):
        query.date_literal(datetime(2025, 12, 30))  # type: ignore[arg-type]


# ---------------------------------------------------------------- values through the real readers

CUSTOMER = "C4281937"  # a real-shaped id: it passes parameters.customer_id
AS_OF = date(2025, 12, 30)
HOSTILE_TIER = "premium' OR '1'='1"  # a segment value that exists in the mart
WINDOW_DAYS, LIMIT, TOP = 2917, 29, 37  # numbers no SQL text of the package holds
Calls = list[tuple[str, Any]]


class Recording:
    """A DuckDB connection that records each (sql, params) it executes."""

    def __init__(self, con: duckdb.DuckDBPyConnection, calls: Calls) -> None:
        self._con, self.calls = con, calls

    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        self.calls.append((sql, params))
        return self._con.execute(sql) if params is None else self._con.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _mart(schema: str) -> str:
    """Three customers: CUSTOMER churned, C0000002 at high risk (both of HOSTILE_TIER), C0000001 well."""
    tier = HOSTILE_TIER.replace("'", "''")
    return f"""
    CREATE TABLE {schema}.mart_customer_360 AS SELECT * FROM (VALUES
      ('{CUSTOMER}', DATE '{AS_OF}', 'champions', 'high', 'churned', 'high', '{tier}', DATE '{AS_OF}', 1.0, 0.0, 310.5),
      ('C0000002', DATE '{AS_OF}', 'at_risk', 'high', 'active', 'high', '{tier}', NULL, 0.8, 50.0, NULL),
      ('C0000001', DATE '{AS_OF}', 'loyal', 'low', 'active', 'low', 'basic', NULL, 0.1, 12.5, NULL)
    ) AS t(customer_id, as_of_date, rfm_segment, value_tier, lifecycle_stage, churn_risk_level, plan_tier,
           churned_date, churn_probability, revenue_at_risk_usd, lost_clv_usd),
    LATERAL (SELECT 'gold' AS loyalty_tier, 'north' AS region, 'books' AS favourite_category,
             'inactivity' AS primary_risk_reason, ['inactivity'] AS churn_reasons, 80.0 AS predicted_clv_usd,
             'v1' AS model_version)"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse of the tables the readers below need, in prod and in a dev environment."""
    path = tmp_path_factory.mktemp("sql_guard") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    for schema in ("marts", "marts__dev", "scoring", "churnmesh"):
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute(_mart("marts"))
    con.execute(_mart("marts__dev"))
    con.execute(
        "CREATE TABLE marts.mart_clv AS SELECT customer_id, predicted_clv_usd AS historical_clv_usd, "
        "0.0 AS order_revenue_usd, 0.0 AS subscription_revenue_usd, 0.5 AS p_alive FROM marts.mart_customer_360"
    )
    con.execute(
        "CREATE TABLE scoring.churn_scores AS SELECT customer_id, as_of_date, churn_probability, churn_risk_level, "
        "primary_risk_reason AS primary_churn_reason, model_version FROM marts.mart_customer_360"
    )
    con.execute(
        "CREATE TABLE marts.mart_customer_monthly_activity AS SELECT customer_id, as_of_date, "
        "DATE '2025-12-01' AS month_start, 3 AS sessions FROM marts.mart_customer_360"
    )
    con.execute(
        f"CREATE TABLE churnmesh.about AS SELECT DATE '{AS_OF}' AS as_of_date, DATE '{AS_OF}' AS data_watermark, "
        "'v1' AS churn_model_version"
    )
    con.close()
    return path


@pytest.fixture
def recorded(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Calls, Any]]:
    """Every connection query.py opens is recorded, and so is one handed to answers."""
    calls: Calls = []
    connect = duckdb.connect
    monkeypatch.setattr(query.duckdb, "connect", lambda *a, **k: Recording(connect(*a, **k), calls))
    monkeypatch.setenv("CHURNMESH_DATA_DIR", str(warehouse.parent))
    con = connect(str(warehouse), read_only=True)
    yield calls, Recording(con, calls)
    con.close()


def _bound(params: Any) -> list[object]:
    values = list(params.values()) if isinstance(params, dict) else list(params or [])
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def _assert_bound_only(calls: Calls, *values: object) -> None:
    """Each value among the bound parameters, and in no SQL text (a number: not as a whole number)."""
    assert calls, "nothing was executed"
    for sql, _ in calls:
        leaked = [v for v in values if re.search(rf"(?<![0-9]){re.escape(str(v))}(?![0-9])", sql)]
        assert not leaked, f"{leaked} written into SQL:\n{sql}"
    bound = _all_bound(calls)
    missing = [v for v in values if v not in bound]
    assert not missing, f"{missing} not among the bound parameters {bound}"


def _all_bound(calls: Calls) -> list[object]:
    return [v for _, params in calls for v in _bound(params)]


def _cli(kind: str, **options: Any) -> argparse.Namespace:
    defaults = {"query_command": kind, "env": "prod", "as_of": None, "format": "json"}
    return argparse.Namespace(**(defaults | options))


def test_query_customer_binds_the_id_and_the_date(
    recorded: tuple[Calls, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    calls, _ = recorded
    assert parameters.customer_id(CUSTOMER) == CUSTOMER  # valid: only binding keeps it out of the SQL
    assert query.cmd_query(_cli("customer", customer_id=CUSTOMER, as_of=AS_OF, env="dev")) == 0
    assert json.loads(capsys.readouterr().out)["customer_id"] == CUSTOMER
    _assert_bound_only(calls, CUSTOMER, AS_OF)
    assert "marts__dev" in _all_bound(calls)  # the environment's schema is looked up as a value


def test_query_segment_binds_the_date(recorded: tuple[Calls, Any], capsys: pytest.CaptureFixture[str]) -> None:
    calls, _ = recorded
    assert query.cmd_query(_cli("segment", by="value_tier", as_of=AS_OF)) == 0
    assert [r["value_tier"] for r in json.loads(capsys.readouterr().out)] == ["high", "low"]
    _assert_bound_only(calls, AS_OF)


def test_answers_bind_the_customer_the_segment_value_and_the_limits(recorded: tuple[Calls, Any]) -> None:
    calls, con = recorded
    assert answers.customer_profile(con, CUSTOMER)["rows"][0]["customer_id"] == CUSTOMER
    segment = f"plan_tier={HOSTILE_TIER}"
    churned = answers.churned_customers(con, WINDOW_DAYS, segment, limit=LIMIT)
    at_risk = answers.top_at_risk(con, TOP, segment, "high")
    kpi = answers.get_kpi(con, "customers", None, segment)
    assert [r["customer_id"] for r in churned["rows"]] == [CUSTOMER]
    assert [r["customer_id"] for r in at_risk["rows"]] == ["C0000002"]
    assert kpi["rows"] == [{"value": 2, "customers": 2}]
    _assert_bound_only(calls, CUSTOMER, HOSTILE_TIER, WINDOW_DAYS, LIMIT, TOP)
