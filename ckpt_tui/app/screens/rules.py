"""Choose the retention rule: presets, or any combination typed out; and which kept
steps keep their full training state (the others are slimmed to their weights)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from ...core.errors import CkptError
from ...core.retention import DEFAULT_METRIC, Policy, parse_rules

PRESETS = (
    ("best,latest", "best + latest (default)"),
    ("best,latest,last:3", "also the last 3 steps"),
    ("best,latest,every:10", "also every 10th step"),
    ("best,latest,top:3", "also the top 3 by the metric"),
    ("latest,last:5", "the last 5 steps, no metric needed"),
)


class RuleChooser(ModalScreen[Policy | None]):
    """``pins_note`` says which pins stay: they belong to their runs, not to the rule."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="cancel_rules"),
        Binding("down", "to_presets", "Presets", show=False, id="rule_presets"),
    ]
    AUTO_FOCUS = "#rule-text"

    def __init__(self, policy: Policy, cursor_blink: bool = True, pins_note: str = "") -> None:
        super().__init__()
        self.policy = policy
        self.cursor_blink = cursor_blink
        self.pins_note = pins_note

    def compose(self) -> ComposeResult:
        with Vertical(id="rules", classes="dialog") as dialog:
            dialog.border_title = "Retention rule"
            yield Label(self.policy.describe(explain_auto=True), id="rule-now")
            yield Input(self.policy.keep_text, id="rule-text", placeholder="best,latest,last:3",
                        select_on_focus=False)
            yield OptionList(*[Option(f"{text:<22} {about}", id=text) for text, about in PRESETS],
                             id="presets")
            yield Label("rules: best, latest, last:N, every:K, top:K, step:N. Enter applies; "
                        "↓ reaches the presets, Tab the field below.", id="rule-error", classes="hint")
            yield Label("Full state for (others kept: weights only; empty: every kept step):",
                        id="full-label", classes="hint")
            yield Input(self.policy.full_text or "", id="full-text", placeholder="e.g. last:2",
                        select_on_focus=False)
            if self.pins_note:
                yield Label(self.pins_note, id="rule-pins", classes="hint")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = self.cursor_blink

    def action_to_presets(self) -> None:
        """Down from the text field goes to the presets (the list handles Down itself)."""
        presets = self.query_one(OptionList)
        if self.query_one("#rule-text", Input).has_focus:
            presets.focus()
            presets.highlighted = presets.highlighted or 0

    @on(OptionList.OptionSelected)
    def preset(self, event: OptionList.OptionSelected) -> None:
        text = self.query_one("#rule-text", Input)
        text.value = event.option.id
        text.focus()
        text.cursor_position = len(text.value)  # typing goes on at the end

    def parse(self, text: str, full: str) -> Policy:
        metric = self.policy.metric
        rules = parse_rules(text) + (parse_rules(full) if full.strip() else ())
        if metric is None and any(rule.needs_metric for rule in rules):
            metric = DEFAULT_METRIC
        return Policy.parse(text, metric, self.policy.mode, self.policy.smoothing, full.strip() or None)

    def check(self) -> Policy | None:
        """The policy the two fields describe, or None with the reason shown."""
        label = self.query_one("#rule-error", Label)
        try:
            policy = self.parse(self.query_one("#rule-text", Input).value, self.query_one("#full-text", Input).value)
        except CkptError as exc:
            label.update(str(exc))
            label.set_class(True, "error")
            return None
        label.update(policy.describe(explain_auto=True))
        label.set_class(False, "error")
        return policy

    @on(Input.Changed)
    def changed(self) -> None:
        self.check()

    @on(Input.Submitted)
    def apply(self) -> None:
        policy = self.check()
        if policy is None:
            self.app.bell()
        else:
            self.dismiss(policy)

    def action_cancel(self) -> None:
        self.dismiss(None)
