"""Thesis and talk figures: one pure function per figure, input files in, figure files out.

The figure kinds and their functions are in :mod:`.registry`, the one name and colour of each
estimator, classifier and method in :mod:`.names`, the thesis and talk styles in :mod:`.style`.
The package imports none of its modules, so a figure depends only on the module that draws it.
"""
