from ledgerline.cli.main import app

app(prog_name="ledgerline")
