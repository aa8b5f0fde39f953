"""The platform of the MLflow enterprise reference project; the model it ships as its example is its model pack.

Kept import-free on purpose: the logged model ships this package as code
(``code_paths``), so importing ``src`` must stay cheap and side-effect free
wherever the model is served.
"""
