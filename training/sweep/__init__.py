"""The comparison pipeline behind `python -m training.compare` and `python -m training.report`:
`experiments` (one module per experiment) and `plan` say which runs to train, `runner` trains them into a sweep folder, `results` reads
the folder back into rows, and `tables`, `findings`, `figures` and `document` write the report."""
