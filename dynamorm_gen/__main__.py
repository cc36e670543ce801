from dynamorm_gen.cli import main

main()
