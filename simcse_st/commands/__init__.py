"""One module per ``simcse-st`` subcommand; see :mod:`simcse_st.cli`."""
