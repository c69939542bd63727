from whowhywhen.cli import main

main()
