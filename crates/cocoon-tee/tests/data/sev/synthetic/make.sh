#!/bin/sh
# Regenerates the synthetic SEV-SNP test PKI in this directory with the
# OpenSSL CLI (3.x). Not run by the tests: its outputs are committed.
#
# A stand-in "ARK-Milan" (RSA-PSS/SHA-384, as AMD's) issues a stand-in
# "SEV-Milan" ASK, which issues P-384 VCEKs carrying AMD's VCEK extensions
# (productName, SPLs, hwID) for the chip id and TCB of ../milan_report.bin.
# The tests re-sign mutated copies of that real report with vcek_key.pem, so
# each policy check can be hit behind a valid signature, and use the CRLs to
# test revocation.
set -eu
cd "$(dirname "$0")"
rm -rf ca ./*.pem ./*.der ./*.pk8
CHIP=d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6
SUBJ_BASE="/OU=Engineering/C=US/L=Santa Clara/ST=CA/O=Advanced Micro Devices"
SIGOPT="-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 -sigopt rsa_mgf1_md:sha384"
PSS="$SIGOPT -sha384"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ark_key.pem 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ask_key.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out vcek_key.pem
openssl pkcs8 -topk8 -nocrypt -in vcek_key.pem -outform der -out vcek_key.pk8

cat > ext.cnf <<CNF
[ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
[vcek_ok]
1.3.6.1.4.1.3704.1.1 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.2 = ASN1:IA5STRING:Milan-B0
1.3.6.1.4.1.3704.1.3.1 = ASN1:INTEGER:3
1.3.6.1.4.1.3704.1.3.2 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.3.3 = ASN1:INTEGER:8
1.3.6.1.4.1.3704.1.3.8 = ASN1:INTEGER:115
1.3.6.1.4.1.3704.1.4 = DER:$CHIP
[vcek_newer_snp]
1.3.6.1.4.1.3704.1.2 = ASN1:IA5STRING:Milan-B0
1.3.6.1.4.1.3704.1.3.1 = ASN1:INTEGER:3
1.3.6.1.4.1.3704.1.3.2 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.3.3 = ASN1:INTEGER:9
1.3.6.1.4.1.3704.1.3.8 = ASN1:INTEGER:115
1.3.6.1.4.1.3704.1.4 = DER:$CHIP
[vcek_genoa]
1.3.6.1.4.1.3704.1.2 = ASN1:IA5STRING:Genoa
1.3.6.1.4.1.3704.1.3.1 = ASN1:INTEGER:3
1.3.6.1.4.1.3704.1.3.2 = ASN1:INTEGER:0
1.3.6.1.4.1.3704.1.3.3 = ASN1:INTEGER:8
1.3.6.1.4.1.3704.1.3.8 = ASN1:INTEGER:115
1.3.6.1.4.1.3704.1.4 = DER:$CHIP
[crl]
authorityKeyIdentifier = keyid:always
CNF

openssl req -new -x509 -key ark_key.pem -subj "$SUBJ_BASE/CN=ARK-Milan" -days 9000 \
  $PSS -set_serial 0x10000 -extensions ca -config ext.cnf -out ark.pem
openssl req -new -key ask_key.pem -subj "$SUBJ_BASE/CN=SEV-Milan" -out ask.csr
openssl x509 -req -in ask.csr -CA ark.pem -CAkey ark_key.pem -set_serial 0x10001 -days 8000 \
  $PSS -extfile ext.cnf -extensions ca -out ask.pem
openssl req -new -key vcek_key.pem -subj "$SUBJ_BASE/CN=SEV-VCEK" -out vcek.csr
for kind in ok newer_snp genoa; do
  openssl x509 -req -in vcek.csr -CA ask.pem -CAkey ask_key.pem -set_serial 0 -days 2500 \
    $PSS -extfile ext.cnf -extensions vcek_$kind -outform der -out vcek_$kind.der
done
cat ask.pem ark.pem > cert_chain.pem

# CRLs issued by the ARK: one empty, one revoking the ASK (serial 0x10001).
mkdir -p ca/newcerts && : > ca/index.txt && echo 01 > ca/crlnumber
cat > ca.cnf <<CNF
[ca]
default_ca = d
[d]
dir = ca
database = ca/index.txt
crlnumber = ca/crlnumber
new_certs_dir = ca/newcerts
default_md = sha384
default_crl_days = 30
crl_extensions = crl_ext
policy = p
[p]
[crl_ext]
authorityKeyIdentifier = keyid:always
CNF
openssl ca -config ca.cnf -gencrl -keyfile ark_key.pem -cert ark.pem -md sha384 $SIGOPT -out crl_empty.pem 
openssl ca -config ca.cnf -revoke ask.pem -keyfile ark_key.pem -cert ark.pem
openssl ca -config ca.cnf -gencrl -keyfile ark_key.pem -cert ark.pem -md sha384 $SIGOPT -out crl_revoking_ask.pem 2>/dev/null
rm -rf ca ca.cnf ask.csr vcek.csr ext.cnf ask_key.pem ark_key.pem vcek_key.pem
