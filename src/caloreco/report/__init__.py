"""Reporting: the numbers quoted in the thesis (:mod:`.numbers`), the figure index and captions
(:mod:`.figure_index`, :mod:`.captions`) and the papermill notebooks (:mod:`.notebooks`)."""
