from linkwatch.cli import main

main()
