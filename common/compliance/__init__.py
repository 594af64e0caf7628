"""The works-council pack (`sales-coach compliance-pack DIR`): the papers an employer, its
works council and their advisers ask for before AI assesses workers' calls. Not legal advice.

- `pack`: `write_pack` writes the parts below as Markdown, an index README (which article of
  the EU AI Act each part answers) and `pack.html`, all parts on one rendered page.
- `notice`: the worker notice: what is recorded and scored, by what, for what purpose, who
  sees what, how to dispute, retention (Art. 26(7)).
- `oversight`: the human-oversight record of a period: held scores, reviews, overrides,
  disputes and their outcomes (Art. 14, Art. 26(2)).
- `access`: the access log summarised by role and action (Art. 12, Art. 26(6)).
- `retention`: the retention settings in force, what they delete, erasures (Art. 26(6)).
- `evidence`: validity and agreement summaries passed in as `Evidence`, or why they are not
  available yet (Art. 26(5)).
- `scope`: the scope statement: text of calls only, no voice, video or emotion recognition
  (Art. 5(1)(f)).
- `period`, `md`: the period covered (UTC days), and Markdown escaping, tables and HTML.
"""

from common.compliance.evidence import Evidence
from common.compliance.pack import PARTS, PackFiles, Part, write_pack
from common.compliance.period import Period

__all__ = ["PARTS", "Evidence", "PackFiles", "Part", "Period", "write_pack"]
