"""nbgrader's Autograde and GenerateFeedback, built once per grading process and reused.

nbgrader's converters rebuild their exporter at every `start()`: for feedback that recompiles the
HTML templates for every notebook, and Autograde instantiates its preprocessors twice per
notebook. These subclasses keep one exporter with its preprocessors for the life of the worker;
what they convert, and how, is nbgrader's; the feedback page is nbconvert's, with its last pass
done faster and its highlighting remembered across pages (`FeedbackExporter`); the notebook is
validated once after the preprocessors rather than after each. `check_metadata_once` makes
nbgrader's cell-metadata validation check its JSON schema once instead of once per cell.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict

from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbconvert.writers import FilesWriter
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde, GenerateFeedback
from sqlalchemy.orm import scoped_session, sessionmaker

NO_ALT = "No description has been provided for this image"
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\salt=)")
_FOCUSABLE = re.compile(
    r'(<div class="[^"]*\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b[^"]*")'
)


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTMLExporter with its accessibility pass (alternative text for images, input and
    output areas focusable) done on the rendered text, not through a BeautifulSoup parse tree.

    That pass parsed and re-serialised every feedback page, some 3,000 tags each: two thirds of a
    page's cost. The tags it touches are written by the templates; learner text in a feedback page
    is escaped and its outputs are plain text and images, so no learner content can look like them.
    """

    def from_notebook_node(self, nb, resources=None, **kw):
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get("highlight_code") or self._highlighter(lexer)
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                 resources=resources)  # fmt: skip
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return accessible(html), resources

    def _highlighter(self, lexer: str | None) -> RememberedHighlight:
        kept = self.__dict__.setdefault("_highlighters", {})
        if lexer not in kept:
            kept[lexer] = RememberedHighlight(pygments_lexer=lexer, parent=self)
        return kept[lexer]


class RememberedHighlight(Highlight2HTML):
    """nbconvert's syntax highlighting, remembered for the most recent sources: a lesson's given
    code and its tests are the same in every learner's feedback page, and highlighting them was a
    third of a page's cost. The result depends only on the source, the language and the cell's
    magics language, which is the key."""

    SIZE = 1024  # a few MB of HTML; a lesson has some 40 code cells

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._remembered: OrderedDict[tuple, str] = OrderedDict()

    def __call__(self, source, language=None, metadata=None):
        magics = metadata.get("magics_language") if metadata else None
        key = (self.pygments_lexer, language, magics, source)
        if key in self._remembered:
            self._remembered.move_to_end(key)
            return self._remembered[key]
        html = super().__call__(source, language, metadata)
        self._remembered[key] = html
        if len(self._remembered) > self.SIZE:
            self._remembered.popitem(last=False)
        return html


def accessible(html: str) -> str:
    """The attributes nbconvert's HTMLExporter adds for screen readers and keyboards."""
    html = _IMG_WITHOUT_ALT.sub(f'<img alt="{NO_ALT}"', html)
    return _FOCUSABLE.sub(r'\1 tabindex="0"', html)


class _KeepsExporter:
    """`start()` as nbgrader's BaseConverter does it, with the exporter made only once."""

    _kept = None

    def _make_exporter(self):
        exporter = self.exporter_class(parent=self, config=self.config)
        configured = any(
            "optimistic_validation" in self.config.get(cls.__name__, {})
            for cls in type(exporter).__mro__
        )
        if not configured:
            # nbformat's validation of the whole notebook after every preprocessor (some 17 per
            # notebook) becomes one after the last, nbconvert's own option; an invalid result is
            # refused all the same
            exporter.optimistic_validation = True
        for preprocessor in self.preprocessors:
            exporter.register_preprocessor(preprocessor)
        return exporter

    def start(self) -> None:
        self.init_notebooks()
        self.writer = FilesWriter(parent=self, config=self.config)
        if self._kept is None:
            self._kept = self._make_exporter()
        self.exporter = self._kept
        folder = os.getcwd()
        os.chdir(self.coursedir.root)
        try:
            self.convert_notebooks()
        finally:
            os.chdir(folder)


class KeptFeedback(_KeepsExporter, GenerateFeedback):
    """nbgrader's GenerateFeedback whose HTML exporter, templates compiled, lives across
    notebooks."""

    def _make_exporter(self):
        if (
            self.exporter_class is HTMLExporter
        ):  # unless the course configured an exporter of its own
            self.exporter_class = FeedbackExporter
        return super()._make_exporter()


class KeptAutograde(_KeepsExporter, Autograde):
    """nbgrader's Autograde whose two preprocessor pipelines are instantiated once."""

    _pipelines: dict | None = None

    def _init_preprocessors(self) -> None:
        if self._pipelines is None:
            self._pipelines = {}
        mode = "sanitize" if self._sanitizing else "autograde"
        if mode not in self._pipelines:
            self.exporter._preprocessors = []
            entries = (
                self.sanitize_preprocessors if self._sanitizing else self.autograde_preprocessors
            )
            for entry in entries:
                self.exporter.register_preprocessor(entry)
            self._pipelines[mode] = list(self.exporter._preprocessors)
        self.exporter._preprocessors = list(self._pipelines[mode])


def check_metadata_once() -> None:
    """nbgrader validates each cell's metadata with `jsonschema.validate`, which checks the schema
    itself every time; give its validator module a `validate` that checks each schema once."""
    import jsonschema
    from jsonschema.exceptions import best_match
    from nbgrader.nbgraderformat import common

    if isinstance(common.jsonschema, _SchemaChecked):
        return
    common.jsonschema = _SchemaChecked(jsonschema, best_match)


class _SchemaChecked:
    """`jsonschema.validate` with the validator for each schema built (and the schema checked)
    once."""

    def __init__(self, jsonschema, best_match):
        self._jsonschema, self._best_match, self._validators = jsonschema, best_match, {}

    def validate(self, instance, schema) -> None:
        key = id(schema)
        if key not in self._validators:
            cls = self._jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            self._validators[key] = (schema, cls(schema))  # the schema is kept alive with its id
        error = self._best_match(self._validators[key][1].iter_errors(instance))
        if error is not None:
            raise error

    def __getattr__(self, name):
        return getattr(self._jsonschema, name)


def keep_gradebook_engines() -> None:
    """nbgrader opens the gradebook a dozen times per notebook, and every open builds a database
    engine, lists the tables and creates the missing ones. In this process, opens of a SQLite
    gradebook share one engine, and the tables are checked at the first; everything else an open
    and a close do is nbgrader's. Other databases (the fleet's PostgreSQL, whose connections are
    counted) are opened as nbgrader opens them."""
    import sys

    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "nbgrader" and getattr(module, "Gradebook", None) is Gradebook:
            module.Gradebook = KeptEngineGradebook


class KeptEngineGradebook(Gradebook):
    """nbgrader's Gradebook whose opens of one SQLite database share an engine."""

    _engines: dict[str, object] = {}

    def __init__(self, db_url, course_id="default_course", authenticator=None):
        self._kept = db_url.startswith("sqlite:")
        if not self._kept or db_url not in self._engines:
            super().__init__(db_url, course_id, authenticator)
            if self._kept:
                self._engines[db_url] = self.engine
            return
        # nbgrader's __init__, less what the first open did: the engine and the tables
        self.engine = self._engines[db_url]
        self.db = scoped_session(sessionmaker(autoflush=True, bind=self.engine, future=True))
        self.check_course(course_id=course_id)
        self.course_id = course_id
        self.authenticator = authenticator

    def close(self):
        if self._kept:
            self.db.remove()  # the session's connection goes back to the kept engine's pool
        else:
            super().close()
