"""The floor of bench/app.py: a bare Textual app that draws a 20-row table, nothing else imported."""

from textual.app import App
from textual.widgets import DataTable


class Floor(App):
    def compose(self):
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("step", "size", "modified", "val/reward")
        table.add_rows((f"row {i}", f"{i * 7} MB", "2026-11-20 09:00", f"0.{i:03d}") for i in range(20))


if __name__ == "__main__":
    Floor().run()
