@echo off
rem Runs the motcua node on Windows and restarts it after a crash or a power cut.
rem Used by the scheduled task (see deploy\windows-service.md); double-click to run it by hand.
rem Edit the three lines below if you installed elsewhere.
set "MOTCUA_HOME=C:\motcua"
set "MOTCUA_DATA=C:\motcua\data"
set "MOTCUA_PORT=8080"

set "PYTHONUNBUFFERED=1"
if not exist "%MOTCUA_DATA%\logs" mkdir "%MOTCUA_DATA%\logs"

:run
"%MOTCUA_HOME%\venv\Scripts\motcua-node.exe" run --host 0.0.0.0 --port %MOTCUA_PORT% >> "%MOTCUA_DATA%\logs\console.log" 2>&1
set "CODE=%ERRORLEVEL%"
rem Exit code 2: a bad setting, a failed upgrade or the node already running. Restarting will
rem not fix it: the reason is the last line of logs\console.log. Run motcua-node doctor.
if "%CODE%"=="2" (
    echo %DATE% %TIME% motcua-node stopped with exit code 2; see the last line above >> "%MOTCUA_DATA%\logs\console.log"
    exit /b 2
)
echo %DATE% %TIME% motcua-node exited with code %CODE%; restarting in 5 seconds >> "%MOTCUA_DATA%\logs\console.log"
timeout /t 5 /nobreak >nul
goto run
