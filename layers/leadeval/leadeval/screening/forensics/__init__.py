"""Document forensics beyond metadata: what a page draws (fonts, cover-ups, hidden text), what each saved
revision changed, printed identifiers, payroll-tax and bank-row arithmetic, and the written verdict rule.

Modules: :mod:`.verdict` (the verdict rule and the per-document risk score), :mod:`.content` (page
content: fonts, rectangles, render modes, CropBox, annotations), :mod:`.revisions` (what each incremental
save changed), :mod:`.identifiers` (ABA routing numbers, SSNs, EINs), :mod:`.arithmetic` (payroll tax,
statement rows, pay schedule). Metadata-level checks and reuse stay in :mod:`leadeval.screening.fraud`.
"""
