from services.central.main import main

main()
