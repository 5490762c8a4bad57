"""One notebook open in JupyterLab, driven as a learner drives it: the Run menu, typing in a cell,
the Validate button. Every wait is for something on the page (the kernel status, cell prompts,
a dialog), never for a fixed time."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from .jupyterlab import Lab

# Milliseconds. A kernel's first `import torch` takes seconds; CI machines are slow and shared.
KERNEL_TIMEOUT = 120_000
RUN_TIMEOUT = 240_000
VALIDATE_TIMEOUT = 300_000

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"

# Per cell, what the page shows: its prompt, the text and images of its outputs, whether one is an
# error or stderr stream (JupyterLab renders both with the stderr mime type).
READ_CELLS = """(notebook) => [...document.querySelectorAll(notebook + ' .jp-Cell')].map(cell => ({
    prompt: cell.querySelector('.jp-InputArea-prompt')?.textContent.trim() ?? '',
    text: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent).join('\\n'),
    images: [...cell.querySelectorAll('.jp-OutputArea-output img')].map(
        img => ({complete: img.complete, width: img.naturalWidth, height: img.naturalHeight})),
    stderr: [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(o => o.textContent),
}))"""

# Run All has finished when no cell waits ([*]) and at least one ran: JupyterLab marks every queued
# cell [*] when Run All starts, and clears the marks of the cells after an error.
RUN_FINISHED = """(notebook) => {
    const prompts = [...document.querySelectorAll(notebook + ' .jp-CodeCell .jp-InputArea-prompt')]
        .map(p => p.textContent.trim());
    return prompts.some(p => /^\\[\\d+\\]:$/.test(p)) && !prompts.some(p => p.includes('*'));
}"""

# The height of the notebook's cells (without the blank space JupyterLab adds after the last one)
# and of the part of it the window shows. Measured two frames later: the browser gives a cell that
# comes into view its real height (instead of an estimate) at the next frame.
NOTEBOOK_HEIGHT = """async (notebook) => {
    await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
    const outer = document.querySelector(notebook + ' .jp-WindowedPanel-outer');
    const cells = outer.querySelectorAll('.jp-Cell');
    const bottom = cells[cells.length - 1].getBoundingClientRect().bottom;
    return [outer.scrollTop + bottom - outer.getBoundingClientRect().top + 16, outer.clientHeight];
}"""


@dataclass(frozen=True)
class Cell:
    """What one cell shows after running."""

    prompt: str
    text: str
    images: list[dict]
    stderr: list[str]

    @property
    def ran(self) -> bool:
        return re.fullmatch(r"\[\d+\]:", self.prompt) is not None


@dataclass(frozen=True)
class Verdict:
    """The Validate dialog: nbgrader's overall verdict, its whole text, and the error shown for each
    failed cell (the dialog alternates each failed cell's source and its error)."""

    title: str
    passed: bool
    text: str
    errors: list[str]


class NotebookPage:
    def __init__(self, page: Page, lab: Lab, path: str):
        self.page, self.lab, self.path = page, lab, path
        self.name = Path(path).name

    @classmethod
    def open(cls, page: Page, lab: Lab, path: str, *, cells: int) -> NotebookPage:
        """Open `path` in a fresh workspace; return once its `cells` cells are shown and its kernel
        is idle."""
        notebook = cls(page, lab, path)
        page.goto(lab.page_url(path))
        expect(page.locator(f"{NOTEBOOK} .jp-Cell")).to_have_count(cells, timeout=KERNEL_TIMEOUT)
        notebook.wait_for_idle_kernel()
        return notebook

    def kernel_status(self) -> Locator:
        """The status bar's 'Python 3 (ipykernel) | Idle'."""
        return self.page.get_by_title(f"Change kernel for {self.name}", exact=True)

    def wait_for_idle_kernel(self) -> None:
        expect(self.kernel_status()).to_have_text(re.compile(r"\|\s*Idle$"), timeout=KERNEL_TIMEOUT)

    def cell(self, index: int) -> Locator:
        return self.page.locator(f"{NOTEBOOK} .jp-Cell").nth(index)

    def cells(self) -> list[Cell]:
        return [Cell(**cell) for cell in self.page.evaluate(READ_CELLS, NOTEBOOK)]

    def menu(self, menu: str, item: str) -> None:
        """Click a menu bar entry, then one of its items, by their labels."""
        exactly = lambda label: re.compile(rf"^{re.escape(label)}$")  # noqa: E731
        self.page.locator(".lm-MenuBar-item", has_text=exactly(menu)).click()
        label = self.page.locator(".lm-Menu-itemLabel", has_text=exactly(item))
        self.page.locator(".lm-Menu-item", has=label).click()

    def run_all(self) -> list[Cell]:
        """Run > Run All Cells on a notebook that has not run yet; return the cells once the run has
        finished."""
        self.menu("Run", "Run All Cells")
        self.page.wait_for_function(RUN_FINISHED, arg=NOTEBOOK, timeout=RUN_TIMEOUT)
        self.wait_for_idle_kernel()
        return self.cells()

    def type_into(self, index: int, code: str) -> None:
        """Replace the source of cell `index` by `code`, typed into its editor."""
        editor = self.cell(index).locator(".cm-content")
        editor.click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.insert_text(code.rstrip("\n"))
        self.page.keyboard.press("Escape")  # back to command mode, as after any edit
        shown = editor.inner_text().replace("\u00a0", " ").strip()
        assert shown == code.strip(), f"the cell editor shows {shown!r} after typing {code!r}"

    def validate(self, screenshot: Path) -> Verdict:
        """Click Validate (it saves, then runs nbgrader validate on the saved file), read the
        dialog, screenshot it (and its first error, `<screenshot>-error.png`) and close it."""
        self.page.locator(f"{NOTEBOOK} .jp-Toolbar .validate-button").click()
        dialog = self.page.locator(".jp-Dialog")
        expect(dialog).to_be_visible(timeout=VALIDATE_TIMEOUT)
        title = dialog.locator(".jp-Dialog-header").inner_text().strip()
        message = dialog.locator("#validation-message")
        if message.count():
            blocks = message.locator(":scope > .jp-RenderedText").all_inner_texts()
            verdict = Verdict(
                title=title,
                passed="validation-success" in (message.get_attribute("class") or ""),
                text=message.inner_text(),
                errors=blocks[1::2],
            )
        else:  # "Validation failed: Cannot save notebook" and the like
            verdict = Verdict(title=title, passed=False, text=dialog.inner_text(), errors=[])
        self.page.screenshot(path=screenshot)
        if verdict.errors:  # the dialog opens on the first failed cell's source; its error is below
            message.locator(":scope > .jp-RenderedText").nth(1).scroll_into_view_if_needed()
            self.page.screenshot(path=screenshot.with_name(f"{screenshot.stem}-error.png"))
        dialog.locator(".jp-mod-accept").click()
        expect(dialog).to_have_count(0)
        return verdict

    @contextmanager
    def window_fitting_notebook(self, max_height: int = 30_000) -> Iterator[int]:
        """Make the window as tall as the whole notebook (so that any cell can be photographed
        whole: JupyterLab scrolls inside the page, where screenshots are clipped), then restore
        it."""
        viewport = self.page.viewport_size
        height = viewport["height"]
        content, client = self.page.evaluate(NOTEBOOK_HEIGHT, NOTEBOOK)
        chrome = height - client  # menus, toolbar, status bar
        try:
            # Cells the browser has not drawn yet count with an estimated height until they are
            # shown: grow the window until the notebook's height no longer changes.
            for _ in range(20):
                wanted = min(math.ceil(content) + chrome, max_height)
                if wanted == height:
                    break
                height = wanted
                self._resize_window(height, chrome)
                content, _ = self.page.evaluate(NOTEBOOK_HEIGHT, NOTEBOOK)
            self.cell(0).scroll_into_view_if_needed()
            yield height
        finally:
            self._resize_window(viewport["height"], chrome)

    def _resize_window(self, height: int, chrome: int) -> None:
        """Resize, and wait until JupyterLab has laid the notebook out again (it does so a frame
        later)."""
        self.page.set_viewport_size({"width": self.page.viewport_size["width"], "height": height})
        self.page.wait_for_function(
            "([nb, h]) => document.querySelector(nb + ' .jp-WindowedPanel-outer')"
            ".clientHeight === h",
            arg=[NOTEBOOK, height - chrome],
        )

    def screenshot_pages(self, stem: Path, page_height: int = 1400) -> list[Path]:
        """The whole notebook as consecutive pictures of about `page_height` pixels,
        `<stem>-1.png`..."""
        paths = []
        with self.window_fitting_notebook() as height:
            width = self.page.viewport_size["width"]
            pages = math.ceil(height / page_height)
            for number in range(pages):
                top, bottom = height * number // pages, height * (number + 1) // pages
                paths.append(stem.with_name(f"{stem.name}-{number + 1}.png"))
                self.page.screenshot(
                    path=paths[-1], clip={"x": 0, "y": top, "width": width, "height": bottom - top}
                )
        return paths

    def screenshot_outputs(self, index: int, path: Path) -> None:
        """The outputs of cell `index`, whole."""
        with self.window_fitting_notebook():
            self.cell(index).locator(".jp-Cell-outputWrapper").screenshot(path=path)
