"""HTML tables of numbers and text: the one table builder of the project.

The run report styles its tables with its own stylesheet; a notebook output
may be shown where no stylesheet applies (GitHub, nbconvert), so there the
same table carries inline styles (`inline=True`).
"""

import html
import re
from typing import Any, List, Mapping, Optional, Sequence

from pipeline.reports import formatting

_SIGNED = re.compile(r'^[+-][0-9.]')  # a difference: right-aligned like numbers
_INLINE_TABLE = ('border-collapse:collapse;font:12px sans-serif;'
                 'margin:4px 0 12px 0')
_INLINE_CELL = 'border:1px solid #ccc;padding:2px 6px;text-align:%s'


def escape(value: Any) -> str:
  return html.escape(str(value))


def _is_number(cell: Any) -> bool:
  return cell is None or (isinstance(cell, (int, float, list, tuple)) and
                          not isinstance(cell, bool))


def _cell(cell: Any, inline: bool) -> str:
  numeric = _is_number(cell) or (isinstance(cell, str) and
                                 bool(_SIGNED.match(cell)))
  text = formatting.number(cell) if _is_number(cell) else str(cell)
  if inline:
    style = _INLINE_CELL % ('right' if numeric else 'left')
    return f'<td style="{style}">{escape(text)}</td>'
  return (f'<td class="num">{escape(text)}</td>' if numeric
          else f'<td>{escape(text)}</td>')


def table(header: Sequence[str], rows: Sequence[Sequence[Any]],
          classes: Optional[Sequence[str]] = None, caption: str = '',
          inline: bool = False) -> str:
  """A table; numbers go through formatting.number and are right-aligned.

  Args:
    header: column titles.
    rows: cells per row (numbers, intervals, None or text).
    classes: a CSS class per row ('' for none), e.g. 'small' for noisy slices.
    caption: shown above the table.
    inline: inline styles instead of the report's stylesheet.
  """
  out = [f'<table style="{_INLINE_TABLE}">' if inline else '<table>']
  if caption:
    out.append(f'<caption style="text-align:left;font-weight:bold">'
               f'{escape(caption)}</caption>')
  th_style = (f' style="{_INLINE_CELL % "left"};background:#f3f3f3"'
              if inline else '')
  out.append('<tr>' + ''.join(f'<th{th_style}>{escape(h)}</th>'
                              for h in header) + '</tr>')
  for i, row in enumerate(rows):
    css = f' class="{classes[i]}"' if classes and classes[i] else ''
    out.append(f'<tr{css}>' + ''.join(_cell(c, inline) for c in row) +
               '</tr>')
  out.append('</table>')
  return '\n'.join(out)


def table_of_dicts(rows: Sequence[Mapping[str, Any]],
                   columns: Optional[List[str]] = None, caption: str = '',
                   inline: bool = True) -> str:
  """A table of dict rows (columns default to the first row's keys)."""
  rows = list(rows)
  columns = list(columns if columns is not None else (rows[0] if rows else []))
  return table(columns, [[row.get(c, '') for c in columns] for row in rows],
               caption=caption, inline=inline)
