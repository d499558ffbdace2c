"""Weekly and monthly analysis reports (spec step 6): periods, figures, formats."""
