"""The command line's messages in English and Korean: errors, hints, confirmations, table titles and
headers. ``tr(id, **params)`` formats the message of the chosen language (``str.format`` fields).

The language comes from ``--lang`` or ``REBALANCE_LANG`` (``ko``, ``en`` or ``auto``: ``LC_ALL``,
``LC_MESSAGES`` or ``LANG`` starting with ``ko`` means Korean); unset, the command line speaks
English. ``--json`` output is never translated: its keys and values (state and status names,
sides, error class names) are identifiers. State and status names stay as they are in both
languages; :func:`status_words` gives their meaning in the chosen language.

An error's own detail (``exc.message``, written by the engine and the adapters) stays as written;
in Korean the line starts with what kind of error it is (``ERROR_KINDS``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

E = TypeVar("E", bound=Exception)

LANGS = ("en", "ko")

EN: dict[str, str] = {
    "error.line": "[red]error:[/] {message}",
    "error.kind": "{kind} — {message}",  # (English error lines carry no kind: the detail says it)
    "error.invalid_input": "[red]error:[/] invalid input at '{loc}': {msg}",
    "error.interrupted": "interrupted; the run stays at its last checkpoint (use: resume)",
    "error.bad_lang": "--lang must be ko or en (or auto), not '{value}'",
    "run.started": "run [bold]{id}[/] started (max_phase {max_phase})",
    "run.unknown_planner": "unknown planner '{name}' (choose one of {choices})",
    "resume.one_of": "give a RUN_ID or --all-interrupted (one of them)",
    "resume.handled": "{count} interrupted run(s) handled",
    "demo.only_sim": "demo runs only against the simulated account (REBALANCE_BROKER=kis-sim or sim)",
    "demo.started": "demo run [bold]{id}[/] against the simulated account ({path})",
    "demo.market": "market: {market}; clock {clock} UTC",
    "status.title_one": "Run",
    "status.title_all": "Active and interrupted runs",
    "force.done": "run {id} is now {state} [{status}]; resume it to continue",
    "abort.done": "run {id} aborted at {state}",
    "db.at_schema": "{url} is at schema {rev}",
    "config.get": "MP threshold {mp} pp, Sub-MP threshold {sub} pp",
    "config.set_needs": "give --mp-threshold and/or --sub-mp-threshold",
    "config.set": "thresholds set: MP {mp} pp, Sub-MP {sub} pp",
    "targets.none": "no targets yet: run 'targets set FILE'",
    "targets.decided": "[bold]{mp_id}[/] decided {at} UTC",
    "targets.recorded": "targets {mp_id} recorded (decision #{id})",
    "file.missing": "{what} file {path} does not exist",
    "file.not_json": "{what} file {path} is not valid JSON: {msg} at line {line}",
    "plan.needed": "rebalancing needed: {answer}",
    "plan.yes": "yes",
    "plan.no": "no",
    "plan.unknown_planner": "unknown planner '{name}' for plan (optimal or greedy)",
    "plan.total_drift": "total absolute drift {before}pp → {after}pp",
    "side.sell": "sell",
    "side.buy": "buy",
    "llm.none": "no LLM calls (no tokens, no cost)",
    "llm.some": "{attempts} LLM attempt(s), {total} tokens ({input} in / {output} out), est. {usd}{unpriced} "
                "({models}; list prices, USD)",
    "llm.unpriced": ", {count} unpriced",
    "render.drift_mp": "{title}: MP drift (threshold {mp}pp)  total {total} KRW",
    "render.drift_sub": "{title}: Sub-MP drift (threshold {sub}pp of the class)",
    "render.before": "Before",
    "render.after": "After",
    "render.exceeded": "exceeded",
    "render.run_head": "[bold]Run {id}[/]  account {account}  state [bold]{state}[/]  status {status}  max_phase "
                       "{max_phase}  planner {planner}  thresholds MP {mp} / Sub-MP {sub}",
    "render.error": "[red]error:[/] {message}",
    "render.blocked": "[magenta]blocked:[/] {reason}",
    "render.llm": "LLM: {text}",
    "render.timeline": "Timeline",
    "render.interruption": "[yellow]⚡ after step {seq}:[/] {message}",
    "render.passed": "[green]passed[/]",
    "render.failed": "[red]failed[/]",
    "render.unchecked": "unchecked",
    "render.tokens": "  ({tokens} tokens, est. {usd})",
    "render.plan": "[bold]{side} plan, attempt {attempt}[/] by {planner}: {verdict}{tokens}",
    "render.planner_error": "  [red]planner error:[/] {error}",
    "render.orders": "Orders and fills",
    "render.projected": "[cyan]{side} fills projected at snapshot prices (dry run, nothing sent):[/]",
    "render.result": "[bold]Result:[/] {status}  trades {trades}  cost {cost} KRW  total drift {before} → {after}",
    "render.recovery": "[bold]Buy-side recovery:[/] {line}",
    "render.recovery_line": "first {status}{drift}{error}; then {tries}",
    "render.recovery_drift": " (total drift after {drift}pp)",
    "render.running": "running",
    "render.stale": "stale",
    "render.history": "Rebalancing history",
    "render.history_recovery": "{run}: buy-side recovery: {line}",
    "render.llm_month": "LLM cost {month} ({runs} finished run(s)): {text}",
    "col.class": "class", "col.target_pct": "target %", "col.actual_pct": "actual %", "col.drift_pp": "drift pp",
    "col.ticker": "ticker", "col.name": "name", "col.qty": "qty", "col.price": "price", "col.value": "value",
    "col.target_value": "target value", "col.in_class_pct": "in-class %", "col.time_utc": "time (UTC)",
    "col.took": "took", "col.transition": "transition", "col.status": "status", "col.actor": "actor",
    "col.what_happened": "what happened", "col.side": "side", "col.filled": "filled", "col.avg_price": "avg price",
    "col.amount": "amount", "col.fees": "fees", "col.order_no": "order no", "col.note": "note", "col.id": "id",
    "col.account": "account", "col.state": "state", "col.phase": "phase", "col.age": "age",
    "col.lease_holder": "lease holder", "col.error": "error", "col.executed_utc": "executed (UTC)", "col.run": "run",
    "col.thresholds": "MP/Sub-MP thr", "col.drift_before": "drift before", "col.drift_after": "drift after",
    "col.trades": "trades", "col.cost": "cost", "col.llm_tokens": "LLM tokens", "col.llm_usd": "LLM est. USD",
    "status.SUCCEEDED": "finished: every order done",
    "status.NOT_NEEDED": "no drift reached its threshold: nothing to do",
    "status.STOPPED": "stopped at its max_phase",
    "status.RUNNING": "running or interrupted (resumable)",
    "status.BLOCKED": "stopped by a rule or guard; needs an operator",
    "status.PARTIAL": "some orders filled, not all",
    "status.FAILED": "failed",
    "status.ABORTED": "aborted by an operator",
}

KO: dict[str, str] = {
    "error.line": "[red]오류:[/] {message}",
    "error.kind": "{kind} — {message}",
    "error.invalid_input": "[red]오류:[/] 잘못된 입력 '{loc}': {msg}",
    "error.interrupted": "중단되었습니다. 실행은 마지막 체크포인트에 남아 있습니다 (재개: resume)",
    "error.bad_lang": "--lang은 ko 또는 en(또는 auto)이어야 합니다: '{value}'",
    "run.started": "실행 [bold]{id}[/] 시작 (max_phase {max_phase})",
    "run.unknown_planner": "알 수 없는 플래너 '{name}' ({choices} 중 하나를 고르세요)",
    "resume.one_of": "RUN_ID 또는 --all-interrupted 중 하나만 지정하세요",
    "resume.handled": "중단된 실행 {count}건 처리",
    "demo.only_sim": "demo는 모의 계좌에서만 실행됩니다 (REBALANCE_BROKER=kis-sim 또는 sim)",
    "demo.started": "모의 계좌({path})에서 데모 실행 [bold]{id}[/] 시작",
    "demo.market": "시장: {market}; 시계 {clock} UTC",
    "status.title_one": "실행",
    "status.title_all": "진행 중이거나 중단된 실행",
    "force.done": "실행 {id}은(는) 이제 {state} [{status}]입니다. 계속하려면 재개(resume)하세요",
    "abort.done": "실행 {id}을(를) {state}에서 중단했습니다",
    "db.at_schema": "{url} 스키마 버전: {rev}",
    "config.get": "MP 임계값 {mp} %p, Sub-MP 임계값 {sub} %p",
    "config.set_needs": "--mp-threshold 또는 --sub-mp-threshold(둘 다도 가능)를 지정하세요",
    "config.set": "임계값 설정: MP {mp} %p, Sub-MP {sub} %p",
    "targets.none": "아직 목표 비중이 없습니다: 'targets set FILE'을 실행하세요",
    "targets.decided": "[bold]{mp_id}[/] 결정 {at} UTC",
    "targets.recorded": "목표 비중 {mp_id} 기록됨 (결정 #{id})",
    "file.missing": "{what} 파일 {path}이(가) 없습니다",
    "file.not_json": "{what} 파일 {path}이(가) 올바른 JSON이 아닙니다: {msg} ({line}번째 줄)",
    "plan.needed": "리밸런싱 필요: {answer}",
    "plan.yes": "예",
    "plan.no": "아니요",
    "plan.unknown_planner": "plan에서 알 수 없는 플래너 '{name}' (optimal 또는 greedy)",
    "plan.total_drift": "총 절대 괴리 {before}%p → {after}%p",
    "side.sell": "매도",
    "side.buy": "매수",
    "llm.none": "LLM 호출 없음 (토큰·비용 없음)",
    "llm.some": "LLM 시도 {attempts}회, 토큰 {total}개 (입력 {input} / 출력 {output}), 추정 {usd}{unpriced} "
                "({models}; 정가 기준, USD)",
    "llm.unpriced": ", 가격 미상 {count}회",
    "render.drift_mp": "{title}: MP 괴리 (임계값 {mp}%p)  총액 {total}원",
    "render.drift_sub": "{title}: Sub-MP 괴리 (자산군 대비 임계값 {sub}%p)",
    "render.before": "리밸런싱 전",
    "render.after": "리밸런싱 후",
    "render.exceeded": "초과",
    "render.run_head": "[bold]실행 {id}[/]  계좌 {account}  상태 [bold]{state}[/]  결과 {status}  max_phase "
                       "{max_phase}  플래너 {planner}  임계값 MP {mp} / Sub-MP {sub}",
    "render.error": "[red]오류:[/] {message}",
    "render.blocked": "[magenta]차단됨:[/] {reason}",
    "render.llm": "LLM: {text}",
    "render.timeline": "타임라인",
    "render.interruption": "[yellow]⚡ {seq}단계 이후:[/] {message}",
    "render.passed": "[green]통과[/]",
    "render.failed": "[red]실패[/]",
    "render.unchecked": "미검사",
    "render.tokens": "  (토큰 {tokens}개, 추정 {usd})",
    "render.plan": "[bold]{side} 계획, 시도 {attempt}[/] ({planner}): {verdict}{tokens}",
    "render.planner_error": "  [red]플래너 오류:[/] {error}",
    "render.orders": "주문 및 체결",
    "render.projected": "[cyan]{side} 체결 예상 (스냅샷 가격 기준, 모의 실행이라 전송 안 함):[/]",
    "render.result": "[bold]결과:[/] {status}  거래 {trades}건  비용 {cost}원  총 괴리 {before} → {after}",
    "render.recovery": "[bold]매수 복구:[/] {line}",
    "render.recovery_line": "처음 {status}{drift}{error}; 이후 {tries}",
    "render.recovery_drift": " (이후 총 괴리 {drift}%p)",
    "render.running": "실행 중",
    "render.stale": "끊김",
    "render.history": "리밸런싱 이력",
    "render.history_recovery": "{run}: 매수 복구: {line}",
    "render.llm_month": "LLM 비용 {month} (완료된 실행 {runs}건): {text}",
    "col.class": "자산군", "col.target_pct": "목표 %", "col.actual_pct": "실제 %", "col.drift_pp": "괴리 %p",
    "col.ticker": "종목코드", "col.name": "종목명", "col.qty": "수량", "col.price": "가격", "col.value": "평가액",
    "col.target_value": "목표 평가액", "col.in_class_pct": "자산군 내 %", "col.time_utc": "시각 (UTC)",
    "col.took": "소요", "col.transition": "전이", "col.status": "결과", "col.actor": "실행자",
    "col.what_happened": "내용", "col.side": "구분", "col.filled": "체결", "col.avg_price": "평균 단가",
    "col.amount": "금액", "col.fees": "수수료", "col.order_no": "주문번호", "col.note": "비고", "col.id": "ID",
    "col.account": "계좌", "col.state": "상태", "col.phase": "단계", "col.age": "경과",
    "col.lease_holder": "점유자", "col.error": "오류", "col.executed_utc": "실행 시각 (UTC)", "col.run": "실행",
    "col.thresholds": "MP/Sub-MP 임계값", "col.drift_before": "이전 괴리", "col.drift_after": "이후 괴리",
    "col.trades": "거래", "col.cost": "비용", "col.llm_tokens": "LLM 토큰", "col.llm_usd": "LLM 추정 USD",
    "status.SUCCEEDED": "완료: 모든 주문 처리됨",
    "status.NOT_NEEDED": "임계값에 도달한 괴리 없음: 할 일 없음",
    "status.STOPPED": "max_phase에서 정지",
    "status.RUNNING": "실행 중 또는 중단됨 (재개 가능)",
    "status.BLOCKED": "규칙이나 안전장치로 정지됨; 운영자 조치 필요",
    "status.PARTIAL": "일부 주문만 체결됨",
    "status.FAILED": "실패",
    "status.ABORTED": "운영자가 중단함",
}

CATALOGS: dict[str, dict[str, str]] = {"en": EN, "ko": KO}

# What kind of error it is, in Korean, before the detail the engine or an adapter wrote (in English).
# The most specific class wins (the table is read in order).
ERROR_KINDS: dict[str, str] = {
    "RunNotFound": "실행을 찾을 수 없습니다",
    "RunFinished": "이미 끝난 실행입니다",
    "IncompatibleCheckpoint": "호환되지 않는 체크포인트입니다",
    "ReplayMismatch": "기록된 이력이 코드와 다릅니다",
    "LeaseHeld": "다른 실행기가 계좌나 실행을 점유 중입니다",
    "SafetyStop": "안전장치가 실행을 멈췄습니다",
    "TransitionError": "허용되지 않는 상태 전이입니다",
    "TargetsError": "목표 비중 입력이 잘못되었습니다",
    "ThresholdError": "임계값 입력이 잘못되었습니다",
    "SnapshotError": "계좌 스냅샷이 잘못되었습니다",
    "PlanningError": "계획을 세울 수 없습니다",
    "ScheduleError": "스케줄 입력이 잘못되었습니다",
    "BadDatabase": "데이터베이스 경로가 잘못되었습니다",
    "DatabaseError": "데이터베이스 오류입니다",
    "MarketClosed": "장이 열려 있지 않습니다",
    "OrderRejected": "증권사가 주문을 거부했습니다",
    "OrderOutcomeUnknown": "주문 결과를 알 수 없습니다",
    "BrokerError": "증권사 오류입니다",
    "AdapterError": "외부 시스템 오류입니다",
    "DomainError": "잘못된 입력입니다",
}


class _Lang:
    current = "en"


def resolve(option: str | None, setting: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The language: ``--lang``, else ``REBALANCE_LANG``; ``auto`` follows the locale variables
    (``ko…`` is Korean, anything else English); unset means English."""
    choice = (option or setting or "").strip().lower()
    if choice in LANGS:
        return choice
    if choice == "auto":
        env = os.environ if environ is None else environ
        for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
            value = env.get(var)
            if value:
                return "ko" if value.lower().startswith("ko") else "en"
    return "en"


def set_lang(lang: str) -> None:
    _Lang.current = lang if lang in LANGS else "en"


def lang() -> str:
    return _Lang.current


def tr(key: str, **params: object) -> str:
    """The message ``key`` in the chosen language, formatted with ``params``."""
    text = CATALOGS[_Lang.current].get(key) or EN[key]
    return text.format(**params) if params else text


def error_kind(exc: BaseException) -> str | None:
    """The Korean name of an error's kind (None in English: the detail says it all)."""
    if _Lang.current == "en":
        return None
    for cls in type(exc).__mro__:
        if cls.__name__ in ERROR_KINDS:
            return ERROR_KINDS[cls.__name__]
    return None


def error_line(exc: BaseException, message: str) -> str:
    kind = error_kind(exc)
    return tr("error.line", message=tr("error.kind", kind=kind, message=message) if kind else message)


def status_words(status: str) -> str:
    """What a status name (SUCCEEDED, BLOCKED...) means, in the chosen language."""
    return CATALOGS[_Lang.current].get(f"status.{status}", status)


def en(key: str, **params: object) -> str:
    """The English message ``key`` (what ``--json`` and logs carry, whatever the language)."""
    return EN[key].format(**params) if params else EN[key]


def cli_error(cls: type[E], key: str, fields: Mapping[str, object] | None = None, **params: object) -> E:
    """An error of the command line itself: its ``message`` (``--json``, logs) in English, the line
    printed for people (``localized``) in the chosen language."""
    exc = cls(en(key, **params), **dict(fields or {}))
    exc.localized = tr(key, **params)  # type: ignore[attr-defined]
    return exc


def printed(exc: BaseException, message: str) -> str:
    """The text to print for an error: its localized line when the command line wrote one."""
    return str(getattr(exc, "localized", message))
