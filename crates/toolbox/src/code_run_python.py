"""Runs a `process/code-run` Python program (read from stdin) as __main__, and reports the
matplotlib figures it shows as chart artifacts: one `dtn_artifact_k39fd2:{json}` line on stdout per
figure, which the toolbox strips from the output and returns in `artifacts.charts`.

matplotlib is only touched when the program imports it: the Agg backend is the default (no
display in a sandbox), and an import hook replaces `pyplot.show` with a function that describes
and closes every open figure. A chart is the figure's type (line, scatter, bar, pie, or
composite_chart when it has several axes with content; box plots are drawn with plain lines and
come back as line charts), its title, axis labels, ticks, scales,
elements and a PNG (base64).
"""
import base64
import importlib.abc
import importlib.machinery
import io
import json
import os
import sys
import traceback
import types

PREFIX = "dtn_artifact_k39fd2:"


def number(value):
    """A plain float for JSON (numpy scalars, dates already converted by matplotlib)."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result and result not in (float("inf"), float("-inf")) else None


def texts(labels):
    return [label.get_text() for label in labels]


def axis_info(ax):
    return {
        "x_label": ax.get_xlabel(),
        "y_label": ax.get_ylabel(),
        "x_ticks": [n for n in map(number, ax.get_xticks()) if n is not None],
        "y_ticks": [n for n in map(number, ax.get_yticks()) if n is not None],
        "x_tick_labels": texts(ax.get_xticklabels()),
        "y_tick_labels": texts(ax.get_yticklabels()),
        "x_scale": ax.get_xscale(),
        "y_scale": ax.get_yscale(),
    }


def visible_label(artist, fallback):
    label = artist.get_label() or ""
    return fallback if label.startswith("_") or not label else label


def describe_axes(ax):
    """The chart one axes draws, or None when it draws nothing this knows."""
    from matplotlib.collections import PathCollection
    from matplotlib.container import BarContainer
    from matplotlib.patches import Wedge

    title = ax.get_title()
    wedges = [p for p in ax.patches if isinstance(p, Wedge)]
    if wedges:
        labels = [t.get_text() for t in ax.texts]
        elements = []
        for i, wedge in enumerate(wedges):
            label = labels[i] if i < len(labels) else visible_label(wedge, f"slice {i}")
            elements.append({"label": label, "angle": number(wedge.theta2 - wedge.theta1), "radius": number(wedge.r)})
        return {"type": "pie", "title": title, "elements": elements}

    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    if bars:
        tick_labels = {number(t.get_position()[0]): t.get_text() for t in ax.get_xticklabels()}
        elements = []
        for container in bars:
            group = visible_label(container, "")
            for rect in container.patches:
                x = number(rect.get_x() + rect.get_width() / 2)
                label = tick_labels.get(x) or (str(x) if x is not None else "")
                elements.append({"label": label, "value": str(number(rect.get_height())), "group": group})
        chart = {"type": "bar", "title": title, "elements": elements}
        chart.update({k: v for k, v in axis_info(ax).items() if k in ("x_label", "y_label")})
        return chart

    lines = [line for line in ax.get_lines() if line.get_visible() and len(line.get_xydata()) > 0]
    scatters = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets()) > 0]
    if scatters and not lines:
        elements = []
        for i, collection in enumerate(scatters):
            points = [[number(x), number(y)] for x, y in collection.get_offsets()]
            elements.append({"label": visible_label(collection, f"series {i}"), "points": [p for p in points if None not in p]})
        return dict({"type": "scatter", "title": title, "elements": elements}, **axis_info(ax))
    if lines:
        elements = []
        for i, line in enumerate(lines):
            points = [[number(x), number(y)] for x, y in line.get_xydata()]
            elements.append({"label": visible_label(line, f"line {i}"), "points": [p for p in points if None not in p]})
        return dict({"type": "line", "title": title, "elements": elements}, **axis_info(ax))
    return None


def png_of(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def describe_figure(figure):
    charts = [chart for chart in (describe_axes(ax) for ax in figure.axes) if chart is not None]
    title = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) else ""
    if len(charts) == 1:
        chart = charts[0]
        chart["title"] = chart.get("title") or title
    elif charts:
        chart = {"type": "composite_chart", "title": title, "elements": charts}
    else:
        chart = {"type": "unknown", "title": title, "elements": []}
    chart["png"] = png_of(figure)
    return chart


def show_as_charts(*_args, **_kwargs):
    import matplotlib.pyplot as plt

    for number_ in plt.get_fignums():
        figure = plt.figure(number_)
        try:
            chart = describe_figure(figure)
        except Exception as error:  # a chart this cannot read still has its picture
            chart = {"type": "unknown", "title": f"(not described: {error})", "png": png_of(figure)}
        sys.stdout.write(PREFIX + json.dumps({"type": "chart", "value": chart}) + "\n")
        sys.stdout.flush()
        plt.close(figure)


class PatchPyplot(importlib.abc.MetaPathFinder):
    """Finds `matplotlib.pyplot` as usual and replaces its `show` right after it loads."""

    def find_spec(self, name, path=None, target=None):
        if name != "matplotlib.pyplot":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            module.show = show_as_charts

        # The loader belongs to this one spec, so only pyplot is affected.
        spec.loader.exec_module = exec_module
        return spec


def main():
    # No display in a sandbox: figures render off-screen unless the program chose a backend.
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.meta_path.insert(0, PatchPyplot())
    source = sys.stdin.read()
    sys.argv[0] = "-"
    # The program is the real __main__ module (pickling its functions and classes works, as do
    # string annotations), not this runner.
    main_module = types.ModuleType("__main__")
    main_module.__file__ = "<stdin>"
    main_module.__builtins__ = __builtins__
    sys.modules["__main__"] = main_module
    try:
        exec(compile(source, "<stdin>", "exec"), main_module.__dict__)
    except SystemExit:
        raise
    except BaseException as error:
        # The traceback starts at the program, not at this runner.
        traceback.print_exception(type(error), error, error.__traceback__.tb_next)
        sys.exit(1)


main()
