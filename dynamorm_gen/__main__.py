from dynamorm_gen.cli import run

run()
