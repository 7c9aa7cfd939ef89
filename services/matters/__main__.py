from services.matters.main import main

main()
